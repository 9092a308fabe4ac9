#pragma once
/// A small JSON value type that keeps object keys in insertion order (like a Python dict), and a
/// parser that turns request bodies into it.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace sdw {

class json_value;

/// An object member: key and value, in the order they were inserted.
using json_member = std::pair<std::string, json_value>;
/// A JSON array.
using json_array = std::vector<json_value>;
/// A JSON object with insertion order kept; keys are unique when built through json_value::set.
using json_object = std::vector<json_member>;

/// A JSON value: null, bool, integer, float, string (UTF-8), array or ordered object.
/// Integers and floats stay distinct, as in Python (`7` vs `7.0`).
class json_value {
public:
  /// The kinds of value, in the order of the variant.
  enum class kind { null, boolean, integer, number, string, array, object };

  json_value() = default;
  json_value(std::nullptr_t) {}
  json_value(bool b) : v_(b) {}
  json_value(int i) : v_(static_cast<std::int64_t>(i)) {}
  json_value(long i) : v_(static_cast<std::int64_t>(i)) {}
  json_value(long long i) : v_(static_cast<std::int64_t>(i)) {}
  json_value(unsigned i) : v_(static_cast<std::int64_t>(i)) {}
  json_value(unsigned long i) : v_(static_cast<std::int64_t>(i)) {}
  json_value(unsigned long long i) : v_(static_cast<std::int64_t>(i)) {}
  json_value(double d) : v_(d) {}
  json_value(std::string s) : v_(std::move(s)) {}
  json_value(const char* s) : v_(std::string(s)) {}
  json_value(std::string_view s) : v_(std::string(s)) {}
  json_value(json_array a) : v_(std::move(a)) {}
  json_value(json_object o) : v_(std::move(o)) {}

  /// An empty object / array (the default-constructed value is null).
  static json_value object() { return json_value(json_object{}); }
  static json_value array() { return json_value(json_array{}); }

  kind type() const noexcept { return static_cast<kind>(v_.index()); }
  bool is_null() const noexcept { return type() == kind::null; }
  bool is_bool() const noexcept { return type() == kind::boolean; }
  bool is_int() const noexcept { return type() == kind::integer; }
  bool is_double() const noexcept { return type() == kind::number; }
  /// True for integers and floats.
  bool is_number() const noexcept { return is_int() || is_double(); }
  bool is_string() const noexcept { return type() == kind::string; }
  bool is_array() const noexcept { return type() == kind::array; }
  bool is_object() const noexcept { return type() == kind::object; }

  /// Typed access; throw std::bad_variant_access on a kind mismatch.
  bool as_bool() const { return std::get<bool>(v_); }
  std::int64_t as_int() const { return std::get<std::int64_t>(v_); }
  double as_double() const { return std::get<double>(v_); }
  /// An integer or a float as double.
  double as_number() const { return is_int() ? static_cast<double>(as_int()) : as_double(); }
  const std::string& as_string() const { return std::get<std::string>(v_); }
  const json_array& as_array() const { return std::get<json_array>(v_); }
  json_array& as_array() { return std::get<json_array>(v_); }
  const json_object& as_object() const { return std::get<json_object>(v_); }
  json_object& as_object() { return std::get<json_object>(v_); }

  /// Object member lookup; nullptr when absent or when this is not an object.
  const json_value* find(std::string_view key) const;
  /// Sets an object member: replaces the value in place when the key exists (Python dict
  /// semantics), else appends. A null value becomes an empty object first.
  json_value& set(std::string key, json_value value);
  /// Appends to an array (a null value becomes an empty array first).
  json_value& push_back(json_value value);

  friend bool operator==(const json_value& a, const json_value& b) { return a.v_ == b.v_; }
  friend bool operator!=(const json_value& a, const json_value& b) { return !(a == b); }

private:
  std::variant<std::nullptr_t, bool, std::int64_t, double, std::string, json_array, json_object> v_{nullptr};
};

/// The name of a kind ("null", "bool", "integer", "float", "string", "array", "object").
const char* to_string(json_value::kind k) noexcept;

/// Bounds on a parsed document, so that a small body cannot ask for deep recursion or millions of
/// values: nesting depth, and values in all (array items and object members, at any depth).
struct json_limits {
  std::size_t max_depth = 64;
  std::size_t max_values = 10000;
};

/// Parses a JSON document (simdjson) in time linear in its size. Duplicate keys keep the first
/// position and the last value, as Python's json does. Malformed input → sdw::error(bad_request,
/// where, "<what> at line L column C (char N)") in the style of Python's json module; a document
/// over `limits` → sdw::error(bad_request, where, "JSON nesting is deeper than 64 levels") or
/// "... more than 10000 values ...".
json_value parse_json(std::string_view text, const std::string& where = "body", const json_limits& limits = {});

/// An object from members in order, with Python dict semantics for repeated keys (first position,
/// last value), in linear time.
json_object unique_members(std::vector<json_member> members);

} // namespace sdw
