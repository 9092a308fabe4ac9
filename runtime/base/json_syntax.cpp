#include "runtime/base/json_syntax.hpp"

#include <cstddef>

namespace sdw {
namespace {

// A validating scanner that only runs after the fast parser has rejected a document; it
// mirrors the order of checks in Python's json decoder so the first error and its offset match.
class scanner {
public:
  explicit scanner(std::string_view s) : s_(s) {}

  std::optional<std::string> run() {
    skip_ws();
    if (!value(0)) return error_;
    skip_ws();
    if (pos_ != s_.size()) {
      fail("Extra data", pos_);
      return error_;
    }
    return std::nullopt;
  }

private:
  static constexpr int max_depth = 1000;

  bool fail(const char* what, std::size_t at) {
    error_ = std::string(what) + ": " + where(at);
    return false;
  }

  // Python reports code-point offsets; continuation bytes of UTF-8 do not count.
  std::string where(std::size_t at) const {
    std::size_t line = 1, chars = 0, chars_at_line_start = 0;
    for (std::size_t i = 0; i < at && i < s_.size(); ++i) {
      const auto c = static_cast<unsigned char>(s_[i]);
      if ((c & 0xC0) == 0x80) continue;
      ++chars;
      if (c == '\n') {
        ++line;
        chars_at_line_start = chars;
      }
    }
    const std::size_t column = chars - chars_at_line_start + 1;
    return "line " + std::to_string(line) + " column " + std::to_string(column) + " (char " +
           std::to_string(chars) + ")";
  }

  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }

  bool starts_with(std::string_view word) const { return s_.substr(pos_, word.size()) == word; }

  static bool is_digit(char c) { return c >= '0' && c <= '9'; }

  bool value(int depth) {
    if (depth > max_depth) return fail("Maximum nesting depth exceeded", pos_);
    if (pos_ >= s_.size()) return fail("Expecting value", pos_);
    const char c = s_[pos_];
    if (c == '"') return string();
    if (c == '{') return object(depth + 1);
    if (c == '[') return array(depth + 1);
    for (std::string_view word : {"null", "true", "false", "NaN", "Infinity", "-Infinity"}) {
      if (starts_with(word)) {
        pos_ += word.size();
        return true;
      }
    }
    if (c == '-' || is_digit(c)) return number();
    return fail("Expecting value", pos_);
  }

  bool number() {
    const std::size_t start = pos_;
    if (s_[pos_] == '-') ++pos_;
    if (pos_ >= s_.size() || !is_digit(s_[pos_])) return fail("Expecting value", start);
    if (s_[pos_] == '0') {
      ++pos_;
    } else {
      while (pos_ < s_.size() && is_digit(s_[pos_])) ++pos_;
    }
    if (pos_ + 1 < s_.size() && s_[pos_] == '.' && is_digit(s_[pos_ + 1])) {
      pos_ += 2;
      while (pos_ < s_.size() && is_digit(s_[pos_])) ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      std::size_t p = pos_ + 1;
      if (p < s_.size() && (s_[p] == '+' || s_[p] == '-')) ++p;
      if (p < s_.size() && is_digit(s_[p])) {
        while (p < s_.size() && is_digit(s_[p])) ++p;
        pos_ = p;
      }
    }
    return true;
  }

  static bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }

  bool string() {
    const std::size_t begin = pos_++;
    while (true) {
      if (pos_ >= s_.size()) return fail("Unterminated string starting at", begin);
      const auto c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) return fail("Invalid control character at", pos_);
      if (c != '\\') {
        ++pos_;
        continue;
      }
      if (pos_ + 1 >= s_.size()) return fail("Unterminated string starting at", begin);
      const char e = s_[pos_ + 1];
      if (e == 'u') {
        for (std::size_t k = 2; k < 6; ++k) {
          if (pos_ + k >= s_.size() || !is_hex(s_[pos_ + k]))
            return fail("Invalid \\uXXXX escape", pos_ + 1);
        }
        pos_ += 6;
      } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' ||
                 e == 't') {
        pos_ += 2;
      } else {
        return fail("Invalid \\escape", pos_);
      }
    }
  }

  bool object(int depth) {
    ++pos_;
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      return true;
    }
    while (true) {
      if (pos_ >= s_.size() || s_[pos_] != '"')
        return fail("Expecting property name enclosed in double quotes", pos_);
      if (!string()) return false;
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != ':') return fail("Expecting ':' delimiter", pos_);
      ++pos_;
      skip_ws();
      if (!value(depth)) return false;
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == '}') {
        ++pos_;
        return true;
      }
      if (pos_ >= s_.size() || s_[pos_] != ',') return fail("Expecting ',' delimiter", pos_);
      ++pos_;
      skip_ws();
    }
  }

  bool array(int depth) {
    ++pos_;
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      return true;
    }
    while (true) {
      if (!value(depth)) return false;
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ']') {
        ++pos_;
        return true;
      }
      if (pos_ >= s_.size() || s_[pos_] != ',') return fail("Expecting ',' delimiter", pos_);
      ++pos_;
      skip_ws();
    }
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  std::optional<std::string> error_;
};

} // namespace

std::optional<std::string> describe_json_syntax_error(std::string_view text) {
  return scanner(text).run();
}

} // namespace sdw
