// Prompt editing and alternation: the schedule grammar of A1111 (a Lark grammar there), parsed
// here by recursive descent that prefers the structured reading. Where stray brackets make the
// grammar ambiguous (e.g. "[a:2]]"), A1111's Earley parser picks a reading that depends on the
// Python hash seed; the structured reading is one of the readings it picks.
//
//   start     : (prompt | stray)*           stray: one of [ ] ( ) :  (top level only)
//   prompt    : (emphasized | scheduled | alternate | plain | WHITESPACE)*
//   emphasized: "(" prompt ")" | "(" prompt ":" prompt ")" | "[" prompt "]"   (text kept as is)
//   scheduled : "[" [prompt ":"] prompt ":" [WHITESPACE] NUMBER [WHITESPACE] "]"
//   alternate : "[" prompt ("|" [prompt])+ "]"
//   plain     : ([^\\[]():|] | \\.)+
#include "runtime/formats/prompt_schedule.hpp"
#include "runtime/base/unicode_text.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <optional>
#include <set>
#include <unordered_set>

namespace sdw {

namespace {

constexpr int max_depth = 200;  // deeper nesting is treated as a parse failure

struct node {
  enum class kind { text, seq, scheduled, alternate } type = kind::text;
  std::string text;                // text: literal; scheduled: the NUMBER as written
  std::vector<node> children;      // seq: items; scheduled: [before, after]; alternate: options
  bool has_before = false;
  int when = 0;
};

node text_node(std::string s) {
  node n;
  n.text = std::move(s);
  return n;
}

class schedule_parser {
public:
  explicit schedule_parser(const std::string& s) : s_(s) {}

  // The whole prompt, or nothing when it does not parse.
  std::optional<node> parse_start() {
    node root;
    root.type = node::kind::seq;
    std::size_t pos = 0;
    while (true) {
      node p = parse_prompt(pos, 0);
      if (failed_)
        return std::nullopt;
      root.children.push_back(std::move(p));
      if (pos >= s_.size())
        return root;
      char c = s_[pos];
      if (c == '[' || c == ']' || c == '(' || c == ')' || c == ':') {
        root.children.push_back(text_node(std::string(1, c)));
        ++pos;
        continue;
      }
      return std::nullopt;  // '|' outside an alternation, or a dangling backslash
    }
  }

private:
  node parse_prompt(std::size_t& pos, int depth) {
    node seq;
    seq.type = node::kind::seq;
    if (depth > max_depth) {
      failed_ = true;
      return seq;
    }
    while (pos < s_.size() && !failed_) {
      char c = s_[pos];
      if (c == '[' || c == '(') {
        std::size_t p = pos;
        std::optional<node> n = c == '[' ? try_square(p, depth) : try_round(p, depth);
        if (!n)
          return seq;
        seq.children.push_back(std::move(*n));
        pos = p;
        continue;
      }
      if (c == ']' || c == ')' || c == ':' || c == '|')
        return seq;
      std::size_t start = pos;
      while (pos < s_.size()) {
        char d = s_[pos];
        if (d == '\\') {
          if (pos + 1 >= s_.size() || s_[pos + 1] == '\n')
            break;
          pos += 2;
          continue;
        }
        if (d == '[' || d == ']' || d == '(' || d == ')' || d == ':' || d == '|')
          break;
        ++pos;
      }
      if (pos == start)
        return seq;  // a backslash that escapes nothing
      seq.children.push_back(text_node(s_.substr(start, pos - start)));
    }
    return seq;
  }

  std::optional<node> try_round(std::size_t& pos, int depth) {
    if (failed_round_.count(pos))
      return std::nullopt;
    std::size_t p = pos + 1;
    node first = parse_prompt(p, depth + 1);
    node out;
    out.type = node::kind::seq;
    if (!failed_ && p < s_.size() && (s_[p] == ')' || s_[p] == ':')) {
      out.children.push_back(text_node("("));
      out.children.push_back(std::move(first));
      if (s_[p] == ':') {
        ++p;
        node second = parse_prompt(p, depth + 1);
        if (!failed_ && p < s_.size() && s_[p] == ')') {
          out.children.push_back(text_node(":"));
          out.children.push_back(std::move(second));
        } else {
          return fail_round(pos);
        }
      }
      out.children.push_back(text_node(")"));
      pos = p + 1;
      return out;
    }
    return fail_round(pos);
  }

  std::optional<node> try_square(std::size_t& pos, int depth) {
    if (failed_square_.count(pos))
      return std::nullopt;
    std::size_t p = pos + 1;
    node first = parse_prompt(p, depth + 1);
    if (failed_ || p >= s_.size())
      return fail_square(pos);
    if (s_[p] == ']') {
      node out;
      out.type = node::kind::seq;
      out.children.push_back(text_node("["));
      out.children.push_back(std::move(first));
      out.children.push_back(text_node("]"));
      pos = p + 1;
      return out;
    }
    if (s_[p] == '|') {
      node out;
      out.type = node::kind::alternate;
      out.children.push_back(std::move(first));
      while (p < s_.size() && s_[p] == '|') {
        ++p;
        out.children.push_back(parse_prompt(p, depth + 1));
        if (failed_)
          return fail_square(pos);
      }
      if (p >= s_.size() || s_[p] != ']')
        return fail_square(pos);
      pos = p + 1;
      return out;
    }
    if (s_[p] == ':') {
      std::size_t q = p + 1;
      std::string number;
      if (read_when(q, number)) {  // [to:when]
        node out;
        out.type = node::kind::scheduled;
        out.text = number;
        out.children.push_back(node{});
        out.children.push_back(std::move(first));
        pos = q;
        return out;
      }
      q = p + 1;
      node second = parse_prompt(q, depth + 1);
      if (!failed_ && q < s_.size() && s_[q] == ':') {
        ++q;
        if (read_when(q, number)) {  // [from:to:when]
          node out;
          out.type = node::kind::scheduled;
          out.text = number;
          out.has_before = true;
          out.children.push_back(std::move(first));
          out.children.push_back(std::move(second));
          pos = q;
          return out;
        }
      }
    }
    return fail_square(pos);
  }

  // [WHITESPACE] NUMBER [WHITESPACE] "]" with Lark's SIGNED_NUMBER; on success q is past ']'.
  bool read_when(std::size_t& q, std::string& number) {
    skip_space(q);
    std::size_t start = q;
    if (q < s_.size() && (s_[q] == '+' || s_[q] == '-'))
      ++q;
    std::size_t int_digits = digits(q);
    std::size_t frac_digits = 0;
    if (q < s_.size() && s_[q] == '.') {
      std::size_t r = q + 1;
      frac_digits = digits(r);
      if (int_digits > 0 || frac_digits > 0)
        q = r;
    }
    if (int_digits == 0 && frac_digits == 0)
      return false;
    if (q < s_.size() && (s_[q] == 'e' || s_[q] == 'E')) {
      std::size_t r = q + 1;
      if (r < s_.size() && (s_[r] == '+' || s_[r] == '-'))
        ++r;
      if (digits(r) > 0)
        q = r;
    }
    number = s_.substr(start, q - start);
    skip_space(q);
    if (q >= s_.size() || s_[q] != ']')
      return false;
    ++q;
    return true;
  }

  std::size_t digits(std::size_t& q) const {
    std::size_t count = 0;
    while (q < s_.size() && s_[q] >= '0' && s_[q] <= '9') {
      ++q;
      ++count;
    }
    return count;
  }

  void skip_space(std::size_t& q) const {
    while (q < s_.size()) {
      std::size_t len = 1;
      char32_t c = static_cast<unsigned char>(s_[q]);
      if (c >= 0x80) {
        // Decode one UTF-8 sequence to test for Unicode spaces (U+00A0, U+3000, ...).
        std::size_t end = q + 1;
        while (end < s_.size() && (static_cast<unsigned char>(s_[end]) & 0xC0) == 0x80)
          ++end;
        std::u32string cp = unicode::decode_utf8(s_.substr(q, end - q));
        if (cp.size() != 1)
          return;
        c = cp[0];
        len = end - q;
      }
      if (!unicode::is_space(c))
        return;
      q += len;
    }
  }

  std::optional<node> fail_round(std::size_t pos) {
    failed_round_.insert(pos);
    return std::nullopt;
  }
  std::optional<node> fail_square(std::size_t pos) {
    failed_square_.insert(pos);
    return std::nullopt;
  }

  const std::string& s_;
  bool failed_ = false;
  std::unordered_set<std::size_t> failed_round_;
  std::unordered_set<std::size_t> failed_square_;
};

struct step_rules {
  int steps;
  int int_offset;
  double flt_offset;
  bool old;
};

void collect_steps(node& n, const step_rules& r, std::set<int>& out) {
  if (n.type == node::kind::scheduled) {
    double v = std::strtod(n.text.c_str(), nullptr);
    if (r.old) {
      if (v < 1)
        v *= r.steps;
    } else if (n.text.find('.') != std::string::npos) {
      v = (v - r.flt_offset) * r.steps;
    } else {
      v = v - r.int_offset;
    }
    // int() truncates toward zero; huge values are clamped by min(steps, ...) anyway.
    double t = std::trunc(v);
    if (!(t < r.steps))
      t = r.steps;
    if (t < -1e9)
      t = -1e9;
    n.when = static_cast<int>(t);
    if (n.when >= 1)
      out.insert(n.when);
  } else if (n.type == node::kind::alternate) {
    for (int s = 1; s <= r.steps; ++s)
      out.insert(s);
  }
  for (node& c : n.children)
    collect_steps(c, r, out);
}

void text_at(const node& n, int step, std::string& out) {
  switch (n.type) {
    case node::kind::text:
      out += n.text;
      return;
    case node::kind::seq:
      for (const node& c : n.children)
        text_at(c, step, out);
      return;
    case node::kind::scheduled:
      if (step <= n.when) {
        if (n.has_before)
          text_at(n.children[0], step, out);
      } else {
        text_at(n.children[1], step, out);
      }
      return;
    case node::kind::alternate: {
      const int count = static_cast<int>(n.children.size());
      int k = (step - 1) % count;
      if (k < 0)
        k += count;
      text_at(n.children[static_cast<std::size_t>(k)], step, out);
      return;
    }
  }
}

} // namespace

std::vector<std::pair<int, std::string>> prompt_schedule(const std::string& prompt, int steps, int hires_steps,
                                                         bool use_old_scheduling) {
  step_rules rules{steps, 0, 0.0, use_old_scheduling};
  if (hires_steps > 0 && !use_old_scheduling) {
    rules.int_offset = steps;
    rules.flt_offset = 1.0;
    rules.steps = hires_steps;
  }
  schedule_parser parser(prompt);
  std::optional<node> tree = parser.parse_start();
  if (!tree)
    return {{rules.steps, prompt}};
  std::set<int> breakpoints{rules.steps};
  collect_steps(*tree, rules, breakpoints);
  std::vector<std::pair<int, std::string>> out;
  out.reserve(breakpoints.size());
  for (int t : breakpoints) {
    std::string text;
    text_at(*tree, t, text);
    out.emplace_back(t, std::move(text));
  }
  return out;
}

} // namespace sdw
