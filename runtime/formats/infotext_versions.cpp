#include "runtime/formats/infotext_versions.hpp"

#include "runtime/formats/infotext.hpp"

#include <cctype>
#include <limits>
#include <tuple>

namespace sdw {

bool parse_infotext_version(const std::string& text, pep440_version& out) {
  // parse_version keeps "<a>-<b>" of "<a>-<b>-<rest>" (git describe's "v1.9.4-12-gabc").
  std::string t = text;
  const size_t first = t.find('-');
  if (first != std::string::npos && first > 0) {
    const size_t second = t.find('-', first + 1);
    if (second != std::string::npos && second > first + 1) {
      t = t.substr(0, second);
    }
  }
  t = python_strip(t);
  std::string s;
  for (char c : t) {
    s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  size_t i = 0;
  auto number = [&](long& v) {
    const size_t start = i;
    v = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])) && i - start < 15) {
      v = v * 10 + (s[i] - '0');
      ++i;
    }
    return i > start;
  };
  auto sep = [&] {
    if (i < s.size() && (s[i] == '-' || s[i] == '_' || s[i] == '.')) {
      ++i;
    }
  };
  auto word = [&](const char* w) {
    const std::string ws(w);
    if (s.compare(i, ws.size(), ws) == 0) {
      i += ws.size();
      return true;
    }
    return false;
  };
  pep440_version v;
  if (i < s.size() && s[i] == 'v') {
    ++i;
  }
  long part = 0;
  if (!number(part)) {
    return false;
  }
  v.release.push_back(part);
  while (i + 1 < s.size() && s[i] == '.' && std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
    ++i;
    number(part);
    v.release.push_back(part);
  }
  // Pre-release: [-_.]?(a|b|c|rc|alpha|beta|pre|preview)[-_.]?N?
  {
    const size_t save = i;
    sep();
    int kind = -1;
    if (word("alpha")) kind = 0;
    else if (word("beta")) kind = 1;
    else if (word("preview") || word("pre") || word("rc") || word("c")) kind = 2;
    else if (word("a")) kind = 0;
    else if (word("b")) kind = 1;
    if (kind >= 0) {
      v.pre_kind = kind;
      const size_t before = i;
      sep();
      if (!number(v.pre)) {
        i = before;
        v.pre = 0;
      }
    } else {
      i = save;
    }
  }
  // Post-release: -N, or [-_.]?(post|rev|r)[-_.]?N?
  {
    const size_t save = i;
    long n = 0;
    if (i < s.size() && s[i] == '-' && (++i, number(n))) {
      v.post = n;
    } else {
      i = save;
      sep();
      if (word("post") || word("rev") || word("r")) {
        const size_t before = i;
        sep();
        v.post = number(n) ? n : (i = before, 0);
      } else {
        i = save;
      }
    }
  }
  // Development release: [-_.]?dev[-_.]?N?
  {
    const size_t save = i;
    sep();
    if (word("dev")) {
      const size_t before = i;
      sep();
      long n = 0;
      v.dev = number(n) ? n : (i = before, 0);
    } else {
      i = save;
    }
  }
  // A local part (+...) does not change the comparisons A1111 makes.
  if (i < s.size() && s[i] == '+') {
    i = s.size();
  }
  if (i != s.size()) {
    return false;
  }
  out = v;
  return true;
}

bool version_less(const pep440_version& a, const pep440_version& b) {
  auto release = [](std::vector<long> r) {
    while (!r.empty() && r.back() == 0) {
      r.pop_back();
    }
    return r;
  };
  const auto ra = release(a.release);
  const auto rb = release(b.release);
  if (ra != rb) {
    return ra < rb;
  }
  // packaging's sort key: a dev release without pre or post sorts before every pre-release; no
  // pre-release sorts after them; no post-release before post-releases; no dev after dev releases.
  auto pre_key = [](const pep440_version& v) {
    if (v.pre_kind == 3 && v.post < 0 && v.dev >= 0) {
      return std::make_tuple(0, 0, 0L);
    }
    if (v.pre_kind == 3) {
      return std::make_tuple(2, 0, 0L);
    }
    return std::make_tuple(1, v.pre_kind, v.pre);
  };
  auto post_key = [](const pep440_version& v) { return v.post; };
  auto dev_key = [](const pep440_version& v) {
    return v.dev < 0 ? std::numeric_limits<long>::max() : v.dev;
  };
  const auto ka = std::make_tuple(pre_key(a), post_key(a), dev_key(a));
  const auto kb = std::make_tuple(pre_key(b), post_key(b), dev_key(b));
  return ka < kb;
}

} // namespace sdw
