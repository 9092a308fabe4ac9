#include "runtime/formats/extra_networks.hpp"

#include "runtime/base/unicode_text.hpp"

#include <cctype>
#include <cerrno>
#include <clocale>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace sdw {
namespace {

std::vector<std::string> split_colons(const std::string& args) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t colon = args.find(':', start);
    out.push_back(args.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
    if (colon == std::string::npos) {
      return out;
    }
    start = colon + 1;
  }
}

extra_network_params params_of(const std::string& args) {
  extra_network_params p;
  p.items = split_colons(args);
  for (const auto& item : p.items) {
    const size_t eq = item.find('=');
    // str.split('=', 2) has two parts only for exactly one '='.
    if (eq != std::string::npos && item.find('=', eq + 1) == std::string::npos) {
      const std::string key = item.substr(0, eq);
      bool replaced = false;
      for (auto& [k, v] : p.named) {
        if (k == key) {
          v = item.substr(eq + 1);
          replaced = true;
        }
      }
      if (!replaced) {
        p.named.emplace_back(key, item.substr(eq + 1));
      }
    } else {
      p.positional.push_back(item);
    }
  }
  return p;
}

std::string strip_python_space(const std::string& text) {
  const std::u32string s = unicode::decode_utf8(text);
  size_t b = 0, e = s.size();
  while (b < e && unicode::is_space(s[b])) {
    ++b;
  }
  while (e > b && unicode::is_space(s[e - 1])) {
    --e;
  }
  return unicode::encode_utf8(s.substr(b, e - b));
}

/// Digits with single '_' between them (Python's numeric literal rule); the '_'s removed.
bool take_digits(const std::string& s, size_t& i, std::string& out) {
  const size_t start = i;
  while (i < s.size()) {
    if (s[i] >= '0' && s[i] <= '9') {
      out.push_back(s[i++]);
    } else if (s[i] == '_' && i > start && s[i - 1] != '_' && i + 1 < s.size() && s[i + 1] >= '0' &&
               s[i + 1] <= '9') {
      ++i;
    } else {
      break;
    }
  }
  return i > start;
}

bool iequals(const std::string& a, const char* b) {
  size_t i = 0;
  for (; i < a.size() && b[i] != '\0'; ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) {
      return false;
    }
  }
  return i == a.size() && b[i] == '\0';
}

std::string exact(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

} // namespace

const std::string* extra_network_params::find(const std::string& key) const {
  for (const auto& [k, v] : named) {
    if (k == key) {
      return &v;
    }
  }
  return nullptr;
}

extra_network_tags parse_extra_networks(const std::string& prompt) {
  extra_network_tags out;
  if (prompt.find('<') == std::string::npos) {
    out.prompt = prompt;
    return out;
  }
  const std::u32string s = unicode::decode_utf8(prompt);
  std::u32string kept;
  size_t i = 0;
  while (i < s.size()) {
    // <(\w+):([^>]+)> at i: the type ends at the first non-word character, which must be ':';
    // the arguments run to the first '>' and may not be empty.
    size_t j = i + 1;
    if (s[i] == U'<') {
      while (j < s.size() && unicode::is_word(s[j])) {
        ++j;
      }
    }
    if (s[i] == U'<' && j > i + 1 && j < s.size() && s[j] == U':') {
      const size_t close = s.find(U'>', j + 1);
      if (close != std::u32string::npos && close > j + 1) {
        const std::string type = unicode::encode_utf8(s.substr(i + 1, j - i - 1));
        const std::string args = unicode::encode_utf8(s.substr(j + 1, close - j - 1));
        auto it = out.by_type.begin();
        while (it != out.by_type.end() && it->first != type) {
          ++it;
        }
        if (it == out.by_type.end()) {
          out.by_type.emplace_back(type, std::vector<extra_network_params>{});
          it = out.by_type.end() - 1;
        }
        it->second.push_back(params_of(args));
        i = close + 1;
        continue;
      }
    }
    kept.push_back(s[i]);
    ++i;
  }
  out.prompt = unicode::encode_utf8(kept);
  return out;
}

bool lora_tag::operator==(const lora_tag& o) const {
  // Bitwise-equal multipliers (NaN equal to NaN) so that equal tags give equal keys.
  return name == o.name && exact(te) == exact(o.te) && exact(unet) == exact(o.unet) && dyn == o.dyn;
}

lora_request lora_request_of(const extra_network_tags& tags) {
  lora_request r;
  for (const auto& [type, list] : tags.by_type) {
    if (type != "lora" && type != "lyco") {
      continue;
    }
    for (const auto& p : list) {
      lora_tag t;
      if (p.positional.empty()) {
        return {{}, "a lora tag without a name"};
      }
      t.name = p.positional[0];
      const auto number = [&](const std::string& text) {
        auto v = python_float(text);
        if (!v) {
          throw std::string("could not convert string to float: '" + text + "'");
        }
        return *v;
      };
      try {
        t.te = p.positional.size() > 1 ? number(p.positional[1]) : 1.0;
        if (const auto* te = p.find("te")) {
          t.te = number(*te);
        }
        t.unet = p.positional.size() > 2 ? number(p.positional[2]) : t.te;
        if (const auto* unet = p.find("unet")) {
          t.unet = number(*unet);
        }
        const std::string* dyn = p.find("dyn");
        if (dyn == nullptr && p.positional.size() > 3) {
          dyn = &p.positional[3];
        }
        if (dyn != nullptr) {
          t.dyn = python_int(*dyn);
          if (!t.dyn) {
            throw std::string("invalid literal for int() with base 10: '" + *dyn + "'");
          }
        }
      } catch (const std::string& why) {
        return {{}, why};
      }
      r.tags.push_back(std::move(t));
    }
  }
  return r;
}

std::string lora_key_text(const lora_request& request) {
  std::string key;
  for (const auto& t : request.tags) {
    key += t.name + "\x1f" + exact(t.te) + "\x1f" + exact(t.unet) + "\x1f" + (t.dyn ? std::to_string(*t.dyn) : "-") + "\x1e";
  }
  return key;
}

std::optional<double> python_float(const std::string& text) {
  const std::string s = strip_python_space(text);
  size_t i = 0;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    negative = s[i] == '-';
    ++i;
  }
  const std::string rest = s.substr(i);
  if (iequals(rest, "inf") || iequals(rest, "infinity")) {
    return negative ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  }
  if (iequals(rest, "nan")) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  std::string digits = negative ? "-" : "";
  const bool whole = take_digits(s, i, digits);
  bool fraction = false;
  if (i < s.size() && s[i] == '.') {
    digits.push_back('.');
    ++i;
    fraction = take_digits(s, i, digits);
  }
  if (!whole && !fraction) {
    return std::nullopt;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    digits.push_back('e');
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
      digits.push_back(s[i++]);
    }
    if (!take_digits(s, i, digits)) {
      return std::nullopt;
    }
  }
  if (i != s.size()) {
    return std::nullopt;
  }
  // The digits are plain ASCII; strtod of the "C" locale reads them as Python does (correctly rounded).
  locale_t c = newlocale(LC_NUMERIC_MASK, "C", static_cast<locale_t>(0));
  const double v = strtod_l(digits.c_str(), nullptr, c);
  freelocale(c);
  return v;
}

std::optional<long long> python_int(const std::string& text) {
  const std::string s = strip_python_space(text);
  size_t i = 0;
  std::string digits;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    if (s[i] == '-') {
      digits.push_back('-');
    }
    ++i;
  }
  if (!take_digits(s, i, digits) || i != s.size()) {
    return std::nullopt;
  }
  errno = 0;
  const long long v = std::strtoll(digits.c_str(), nullptr, 10);
  if (errno == ERANGE) {
    return std::nullopt;
  }
  return v;
}

} // namespace sdw
