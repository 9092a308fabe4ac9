// Comments, emphasis and AND: the parts of A1111's prompt syntax that need no grammar.
#include "runtime/base/errors.hpp"
#include "runtime/formats/prompt_attention.hpp"
#include "runtime/base/unicode_text.hpp"

#include <cmath>
#include <cstdlib>

namespace sdw {

namespace {

bool is_digit(char32_t c) { return c >= '0' && c <= '9'; }

// The strict syntax of Python's float() for the characters the emphasis pattern admits.
bool parse_weight(const std::string& s, double& out) {
  std::size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
  int digits = 0;
  int dots = 0;
  for (std::size_t k = i; k < s.size(); ++k) {
    if (s[k] == '.')
      ++dots;
    else if (s[k] >= '0' && s[k] <= '9')
      ++digits;
    else
      return false;
  }
  if (digits == 0 || dots > 1)
    return false;
  out = std::strtod(s.c_str(), nullptr);
  return true;
}

struct run {
  std::string text;
  double weight;
};

// A weight of exactly -1 marks BREAK; a product like -1·1.1·(1/1.1) is not -1 in double but would
// round to -1.0f, so it is kept just off -1 to stay text, as it is in A1111.
float to_float(double w) {
  float f = static_cast<float>(w);
  if (f == -1.0f && w != -1.0)
    f = std::nextafter(-1.0f, w < -1.0 ? -2.0f : 0.0f);
  return f;
}

// Python's re.split(r"\s*\bBREAK\b\s*", text), with a marker run between the pieces.
void append_with_breaks(std::vector<run>& res, const std::string& text) {
  const std::u32string t = unicode::decode_utf8(text);
  const std::size_t n = t.size();
  const std::u32string word = U"BREAK";
  std::size_t piece_start = 0;
  std::size_t search = 0;
  while (search < n) {
    std::size_t p = t.find(word, search);
    if (p == std::u32string::npos)
      break;
    bool left_ok = p == 0 || !unicode::is_word(t[p - 1]);
    bool right_ok = p + word.size() == n || !unicode::is_word(t[p + word.size()]);
    if (!left_ok || !right_ok) {
      search = p + 1;
      continue;
    }
    std::size_t start = p;
    while (start > piece_start && unicode::is_space(t[start - 1]))
      --start;
    std::size_t end = p + word.size();
    while (end < n && unicode::is_space(t[end]))
      ++end;
    res.push_back({unicode::encode_utf8(t.substr(piece_start, start - piece_start)), 1.0});
    res.push_back({"BREAK", -1.0});
    piece_start = end;
    search = end;
  }
  res.push_back({unicode::encode_utf8(t.substr(piece_start)), 1.0});
}

// Python's r"^(\s*.*?)(?:\s*:\s*([-+]?(?:\d+\.?|\d*\.\d+)))?\s*$" on one AND part (no re.S).
weighted_prompt split_weight(const std::u32string& t) {
  const std::size_t n = t.size();
  auto all_space_from = [&](std::size_t k) {
    for (; k < n; ++k)
      if (!unicode::is_space(t[k]))
        return false;
    return true;
  };
  auto weight_at = [&](std::size_t k, double& w) {
    while (k < n && unicode::is_space(t[k]))
      ++k;
    if (k >= n || t[k] != U':')
      return false;
    ++k;
    while (k < n && unicode::is_space(t[k]))
      ++k;
    std::size_t end = n;
    while (end > k && unicode::is_space(t[end - 1]))
      --end;
    std::string num;
    std::size_t i = k;
    if (i < end && (t[i] == U'+' || t[i] == U'-'))
      num.push_back(static_cast<char>(t[i++]));
    int digits = 0;
    int dots = 0;
    for (; i < end; ++i) {
      if (is_digit(t[i]))
        ++digits;
      else if (t[i] == U'.')
        ++dots;
      else
        return false;
      num.push_back(static_cast<char>(t[i]));
    }
    if (digits == 0 || dots > 1)
      return false;
    w = std::strtod(num.c_str(), nullptr);
    return true;
  };
  std::size_t lead = 0;
  while (lead < n && unicode::is_space(t[lead]))
    ++lead;
  for (std::size_t k = lead; k <= n; ++k) {
    if (k > lead && t[k - 1] == U'\n')
      break;
    double w = 1.0;
    if (weight_at(k, w))
      return {unicode::encode_utf8(t.substr(0, k)), w};
    if (all_space_from(k))
      return {unicode::encode_utf8(t.substr(0, k)), 1.0f};
  }
  return {unicode::encode_utf8(t), 1.0f};
}

} // namespace

std::string strip_prompt_comments(const std::string& prompt) {
  // Pass 1, r"(^|\n)#[^\n]*(\n|$)" -> "\n": comment lines (a line right after a replaced one is
  // left to pass 2, as the matches cannot overlap).
  std::string once;
  std::size_t i = 0;
  const std::size_t n = prompt.size();
  while (i < n) {
    std::size_t hash = std::string::npos;
    if (i == 0 && prompt[0] == '#')
      hash = 0;
    else if (prompt[i] == '\n' && i + 1 < n && prompt[i + 1] == '#')
      hash = i + 1;
    if (hash == std::string::npos) {
      once.push_back(prompt[i++]);
      continue;
    }
    std::size_t eol = prompt.find('\n', hash);
    once.push_back('\n');
    i = eol == std::string::npos ? n : eol + 1;
  }
  // Pass 2, r"#[^\n]*(\n|$)" -> "\n": the rest of a line after '#'.
  std::string out;
  for (std::size_t k = 0; k < once.size();) {
    if (once[k] != '#') {
      out.push_back(once[k++]);
      continue;
    }
    std::size_t eol = once.find('\n', k);
    out.push_back('\n');
    k = eol == std::string::npos ? once.size() : eol + 1;
  }
  return out;
}

std::vector<weighted_text> parse_prompt_attention(const std::string& text) {
  std::vector<run> res;
  std::vector<std::size_t> round;
  std::vector<std::size_t> square;
  const double round_mult = 1.1;
  const double square_mult = 1 / 1.1;
  auto multiply_range = [&](std::size_t from, double m) {
    for (std::size_t p = from; p < res.size(); ++p)
      res[p].weight *= m;
  };

  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    const char c = text[i];
    if (c == '\\') {
      char next = i + 1 < n ? text[i + 1] : '\0';
      if (next == '(' || next == ')' || next == '[' || next == ']' || next == '\\') {
        res.push_back({std::string(1, next), 1.0});
        i += 2;
      } else {
        res.push_back({"", 1.0});  // a lone backslash vanishes
        i += 1;
      }
      continue;
    }
    if (c == '(') {
      round.push_back(res.size());
      ++i;
      continue;
    }
    if (c == '[') {
      square.push_back(res.size());
      ++i;
      continue;
    }
    if (c == ':') {
      // r":\s*([+-]?[.\d]+)\s*\)"
      std::u32string rest = unicode::decode_utf8(text.substr(i + 1, 256));
      std::size_t k = 0;
      while (k < rest.size() && unicode::is_space(rest[k]))
        ++k;
      std::size_t num_start = k;
      if (k < rest.size() && (rest[k] == U'+' || rest[k] == U'-'))
        ++k;
      std::size_t body = k;
      while (k < rest.size() && (is_digit(rest[k]) || rest[k] == U'.'))
        ++k;
      std::size_t num_end = k;
      while (k < rest.size() && unicode::is_space(rest[k]))
        ++k;
      if (num_end > body && k < rest.size() && rest[k] == U')') {
        const std::string number = unicode::encode_utf8(rest.substr(num_start, num_end - num_start));
        const std::size_t length = unicode::encode_utf8(rest.substr(0, k + 1)).size() + 1;
        if (!round.empty()) {
          double w = 0;
          if (!parse_weight(number, w))
            throw error(errc::bad_request, "prompt", "could not convert emphasis weight to float: '" + number + "'");
          multiply_range(round.back(), w);
          round.pop_back();
        } else {
          append_with_breaks(res, text.substr(i, length));
        }
        i += length;
        continue;
      }
      append_with_breaks(res, ":");
      ++i;
      continue;
    }
    if (c == ')' && !round.empty()) {
      multiply_range(round.back(), round_mult);
      round.pop_back();
      ++i;
      continue;
    }
    if (c == ']' && !square.empty()) {
      multiply_range(square.back(), square_mult);
      square.pop_back();
      ++i;
      continue;
    }
    if (c == ')' || c == ']') {
      append_with_breaks(res, std::string(1, c));
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < n && text[j] != '\\' && text[j] != '(' && text[j] != ')' && text[j] != '[' && text[j] != ']' &&
           text[j] != ':')
      ++j;
    append_with_breaks(res, text.substr(i, j - i));
    i = j;
  }
  for (std::size_t pos : round)
    multiply_range(pos, round_mult);
  for (std::size_t pos : square)
    multiply_range(pos, square_mult);

  if (res.empty())
    res.push_back({"", 1.0});

  std::vector<weighted_text> merged;
  run current = res[0];
  for (std::size_t k = 1; k < res.size(); ++k) {
    if (res[k].weight == current.weight) {
      current.text += res[k].text;
    } else {
      merged.push_back({current.text, to_float(current.weight)});
      current = res[k];
    }
  }
  merged.push_back({current.text, to_float(current.weight)});
  return merged;
}

bool prompt_uses_emphasis(const std::string& prompt) {
  try {
    for (const auto& run : parse_prompt_attention(prompt)) {
      if (run.text != "BREAK" && run.weight != 1.0f) return true;
    }
  } catch (const error&) {
  }
  return false;
}

std::vector<weighted_prompt> split_and(const std::string& prompt) {
  const std::u32string t = unicode::decode_utf8(prompt);
  const std::u32string word = U"AND";
  std::vector<weighted_prompt> parts;
  std::size_t piece_start = 0;
  std::size_t search = 0;
  while (search < t.size()) {
    std::size_t p = t.find(word, search);
    if (p == std::u32string::npos)
      break;
    bool left_ok = p == 0 || !unicode::is_word(t[p - 1]);
    bool right_ok = p + word.size() == t.size() || !unicode::is_word(t[p + word.size()]);
    if (!left_ok || !right_ok) {
      search = p + 1;
      continue;
    }
    parts.push_back(split_weight(t.substr(piece_start, p - piece_start)));
    piece_start = p + word.size();
    search = piece_start;
  }
  parts.push_back(split_weight(t.substr(piece_start)));
  return parts;
}

} // namespace sdw
