#include "runtime/formats/request_fields.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/base/json_writer.hpp"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace sdw {
namespace {

constexpr const char* not_int = "value is not a valid integer";
constexpr const char* not_float = "value is not a valid float";

std::string strip_ascii(const std::string& s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

// Python numeric literals allow one '_' between two digits; remove them, or fail.
bool drop_underscores(const std::string& s, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '_') {
      out += s[i];
      continue;
    }
    const bool ok = i > 0 && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i - 1])) &&
                    std::isdigit(static_cast<unsigned char>(s[i + 1]));
    if (!ok) return false;
  }
  return true;
}

bool parse_int_text(const std::string& text, std::int64_t& out) {
  std::string s;
  if (!drop_underscores(strip_ascii(text), s) || s.empty()) return false;
  std::size_t i = (s[0] == '+' || s[0] == '-') ? 1 : 0;
  if (i == s.size()) return false;
  for (std::size_t k = i; k < s.size(); ++k) {
    if (!std::isdigit(static_cast<unsigned char>(s[k]))) return false;
  }
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno == ERANGE || *end != '\0') return false;
  out = v;
  return true;
}

bool parse_float_text(const std::string& text, double& out) {
  std::string s;
  if (!drop_underscores(strip_ascii(text), s) || s.empty()) return false;
  std::string lower;
  for (char c : s) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string body = lower;
  double sign = 1.0;
  if (body[0] == '+' || body[0] == '-') {
    sign = body[0] == '-' ? -1.0 : 1.0;
    body.erase(0, 1);
  }
  if (body == "inf" || body == "infinity") {
    out = sign * std::numeric_limits<double>::infinity();
    return true;
  }
  if (body == "nan") {
    out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  // Only decimal forms: strtod would also take hex floats and "infinity" spellings Python refuses.
  bool digit = false;
  for (char c : body) {
    if (std::isdigit(static_cast<unsigned char>(c))) {
      digit = true;
    } else if (c != '.' && c != 'e' && c != '+' && c != '-') {
      return false;
    }
  }
  if (!digit) return false;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (*end != '\0') return false;
  out = v;
  return true;
}

} // namespace

std::int64_t coerce_int(const json_value& v, const std::string& field) {
  switch (v.type()) {
    case json_value::kind::integer: return v.as_int();
    case json_value::kind::boolean: return v.as_bool() ? 1 : 0;
    case json_value::kind::number: {
      const double d = std::trunc(v.as_double());
      if (!std::isfinite(d) || d < -9.2e18 || d > 9.2e18) throw error(errc::bad_request, field, not_int);
      return static_cast<std::int64_t>(d);
    }
    case json_value::kind::string: {
      std::int64_t out = 0;
      if (parse_int_text(v.as_string(), out)) return out;
      break;
    }
    default: break;
  }
  throw error(errc::bad_request, field, not_int);
}

int coerce_int32(const json_value& v, const std::string& field) {
  const std::int64_t i = coerce_int(v, field);
  if (i < std::numeric_limits<int>::min() || i > std::numeric_limits<int>::max())
    throw error(errc::bad_request, field, not_int);
  return static_cast<int>(i);
}

double coerce_float(const json_value& v, const std::string& field) {
  switch (v.type()) {
    case json_value::kind::integer:
    case json_value::kind::number: return v.as_number();
    case json_value::kind::boolean: return v.as_bool() ? 1.0 : 0.0;
    case json_value::kind::string: {
      double out = 0;
      if (parse_float_text(v.as_string(), out)) return out;
      break;
    }
    default: break;
  }
  throw error(errc::bad_request, field, not_float);
}

bool coerce_bool(const json_value& v, const std::string& field) {
  switch (v.type()) {
    case json_value::kind::boolean: return v.as_bool();
    case json_value::kind::integer:
    case json_value::kind::number: {
      const double d = v.as_number();
      if (d == 0) return false;
      if (d == 1) return true;
      break;
    }
    case json_value::kind::string: {
      std::string s;
      for (char c : v.as_string()) s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      for (const char* t : {"1", "on", "t", "true", "y", "yes"}) {
        if (s == t) return true;
      }
      for (const char* f : {"0", "off", "f", "false", "n", "no"}) {
        if (s == f) return false;
      }
      break;
    }
    default: break;
  }
  throw error(errc::bad_request, field, "value could not be parsed to a boolean");
}

std::string coerce_str(const json_value& v, const std::string& field) {
  switch (v.type()) {
    case json_value::kind::string: return v.as_string();
    case json_value::kind::integer:
    case json_value::kind::number:
    case json_value::kind::boolean: return python_str(v);
    default: break;
  }
  throw error(errc::bad_request, field, "str type expected");
}

const json_array& coerce_list(const json_value& v, const std::string& field) {
  if (!v.is_array()) throw error(errc::bad_request, field, "value is not a valid list");
  return v.as_array();
}

std::vector<std::string> coerce_str_list(const json_value& v, const std::string& field) {
  const auto& items = coerce_list(v, field);
  std::vector<std::string> out;
  out.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) out.push_back(coerce_str(items[i], field + "." + std::to_string(i)));
  return out;
}

json_object coerce_dict(const json_value& v, const std::string& field) {
  if (v.is_object()) return v.as_object();
  if (v.is_array()) {
    std::vector<json_member> members;
    for (const auto& item : v.as_array()) {
      if (!item.is_array() || item.as_array().size() != 2) throw error(errc::bad_request, field, "value is not a valid dict");
      const auto& pair = item.as_array();
      if (!pair[0].is_string() && !pair[0].is_number() && !pair[0].is_bool())
        throw error(errc::bad_request, field, "value is not a valid dict");
      members.emplace_back(python_str(pair[0]), pair[1]);
    }
    return unique_members(std::move(members));
  }
  throw error(errc::bad_request, field, "value is not a valid dict");
}

std::size_t utf8_length(const std::string& s) {
  std::size_t n = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

} // namespace sdw
