#include "runtime/base/json_writer.hpp"

#include "runtime/base/errors.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>

namespace sdw {
namespace {

// Decodes one UTF-8 code point at s[i], advancing i; malformed bytes become U+FFFD so that the
// output is always valid UTF-8 (Python strings cannot hold such bytes in the first place).
char32_t next_code_point(std::string_view s, std::size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  int len = 0;
  char32_t cp = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    ++i;
    return 0xFFFD;
  }
  if (i + len > s.size()) {
    ++i;
    return 0xFFFD;
  }
  for (int k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) {
      ++i;
      return 0xFFFD;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  const bool overlong = (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
  if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return 0xFFFD;
  }
  i += len;
  return cp;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

void append_u_escape(std::string& out, unsigned unit) {
  static const char* hex = "0123456789abcdef";
  out += "\\u";
  for (int shift = 12; shift >= 0; shift -= 4) out += hex[(unit >> shift) & 0xF];
}

void write(std::string& out, const json_value& v, json_style style) {
  const bool python = style == json_style::python;
  switch (v.type()) {
    case json_value::kind::null: out += "null"; return;
    case json_value::kind::boolean: out += v.as_bool() ? "true" : "false"; return;
    case json_value::kind::integer: out += std::to_string(v.as_int()); return;
    case json_value::kind::number: {
      const double d = v.as_double();
      if (!std::isfinite(d))
        throw error(errc::bad_request, "json", "out of range float values are not JSON compliant: " +
                                                   python_float_repr(d));
      out += python_float_repr(d);
      return;
    }
    case json_value::kind::string: out += json_quote(v.as_string(), python); return;
    case json_value::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& item : v.as_array()) {
        if (!first) out += python ? ", " : ",";
        first = false;
        write(out, item, style);
      }
      out += ']';
      return;
    }
    case json_value::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, item] : v.as_object()) {
        if (!first) out += python ? ", " : ",";
        first = false;
        out += json_quote(key, python);
        out += python ? ": " : ":";
        write(out, item, style);
      }
      out += '}';
      return;
    }
  }
}

std::string python_repr_string(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char q = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, q);
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == q || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7F) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 0xF];
    } else {
      out += c;
    }
  }
  out += q;
  return out;
}

std::string python_repr(const json_value& v) {
  if (v.is_string()) return python_repr_string(v.as_string());
  if (v.is_array()) {
    std::string out = "[";
    bool first = true;
    for (const auto& item : v.as_array()) {
      if (!first) out += ", ";
      first = false;
      out += python_repr(item);
    }
    return out + "]";
  }
  if (v.is_object()) {
    std::string out = "{";
    bool first = true;
    for (const auto& [key, item] : v.as_object()) {
      if (!first) out += ", ";
      first = false;
      out += python_repr_string(key) + ": " + python_repr(item);
    }
    return out + "}";
  }
  return python_str(v);
}

} // namespace

std::string python_float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  // Shortest round-trip digits in scientific form, then laid out by Python's repr rule:
  // positional when -4 <= exponent < 16, else d.ddde±XX.
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  const bool negative = sci[0] == '-';
  if (negative) sci.erase(0, 1);
  const auto e_pos = sci.find('e');
  const int exponent = std::atoi(sci.c_str() + e_pos + 1);
  std::string digits;
  for (std::size_t i = 0; i < e_pos; ++i) {
    if (sci[i] != '.') digits += sci[i];
  }
  std::string out = negative ? "-" : "";
  if (exponent < -4 || exponent >= 16) {
    out += digits[0];
    if (digits.size() > 1) {
      out += '.';
      out.append(digits, 1, std::string::npos);
    }
    out += 'e';
    out += exponent < 0 ? '-' : '+';
    const int mag = std::abs(exponent);
    if (mag < 10) out += '0';
    out += std::to_string(mag);
  } else if (exponent < 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-exponent - 1), '0');
    out += digits;
  } else {
    const auto int_len = static_cast<std::size_t>(exponent) + 1;
    if (digits.size() <= int_len) {
      out += digits;
      out.append(int_len - digits.size(), '0');
      out += ".0";
    } else {
      out.append(digits, 0, int_len);
      out += '.';
      out.append(digits, int_len, std::string::npos);
    }
  }
  return out;
}

std::string json_quote(std::string_view utf8, bool ensure_ascii) {
  std::string out;
  out.reserve(utf8.size() + 2);
  out += '"';
  std::size_t i = 0;
  while (i < utf8.size()) {
    const char32_t cp = next_code_point(utf8, i);
    switch (cp) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      default: break;
    }
    if (cp < 0x20) {
      append_u_escape(out, static_cast<unsigned>(cp));
    } else if (ensure_ascii && cp > 0x7E) {
      if (cp >= 0x10000) {
        const char32_t v = cp - 0x10000;
        append_u_escape(out, static_cast<unsigned>(0xD800 | (v >> 10)));
        append_u_escape(out, static_cast<unsigned>(0xDC00 | (v & 0x3FF)));
      } else {
        append_u_escape(out, static_cast<unsigned>(cp));
      }
    } else {
      append_utf8(out, cp);
    }
  }
  out += '"';
  return out;
}

std::string to_json(const json_value& v, json_style style) {
  std::string out;
  write(out, v, style);
  return out;
}

std::string python_str(const json_value& v) {
  switch (v.type()) {
    case json_value::kind::null: return "None";
    case json_value::kind::boolean: return v.as_bool() ? "True" : "False";
    case json_value::kind::integer: return std::to_string(v.as_int());
    case json_value::kind::number: return python_float_repr(v.as_double());
    case json_value::kind::string: return v.as_string();
    case json_value::kind::array:
    case json_value::kind::object: return python_repr(v);
  }
  return "None";
}

} // namespace sdw
