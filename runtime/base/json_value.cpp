#include "runtime/base/json_value.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/base/json_syntax.hpp"

#include <simdjson.h>

namespace sdw {

const json_value* json_value::find(std::string_view key) const {
  if (!is_object()) return nullptr;
  for (const auto& [k, v] : as_object()) {
    if (k == key) return &v;
  }
  return nullptr;
}

json_value& json_value::set(std::string key, json_value value) {
  if (is_null()) v_ = json_object{};
  auto& members = as_object();
  for (auto& [k, v] : members) {
    if (k == key) {
      v = std::move(value);
      return v;
    }
  }
  members.emplace_back(std::move(key), std::move(value));
  return members.back().second;
}

json_value& json_value::push_back(json_value value) {
  if (is_null()) v_ = json_array{};
  auto& items = as_array();
  items.push_back(std::move(value));
  return items.back();
}

const char* to_string(json_value::kind k) noexcept {
  switch (k) {
    case json_value::kind::null: return "null";
    case json_value::kind::boolean: return "bool";
    case json_value::kind::integer: return "integer";
    case json_value::kind::number: return "float";
    case json_value::kind::string: return "string";
    case json_value::kind::array: return "array";
    case json_value::kind::object: return "object";
  }
  return "null";
}

namespace {

json_value convert(simdjson::dom::element e) {
  using simdjson::dom::element_type;
  switch (e.type()) {
    case element_type::NULL_VALUE: return json_value();
    case element_type::BOOL: return json_value(bool(e.get_bool().value_unsafe()));
    case element_type::INT64: return json_value(static_cast<long long>(e.get_int64().value_unsafe()));
    case element_type::UINT64: {
      // Above INT64_MAX; Python would keep an exact int, the closest we hold is a float.
      return json_value(static_cast<double>(e.get_uint64().value_unsafe()));
    }
    case element_type::DOUBLE: return json_value(e.get_double().value_unsafe());
    case element_type::STRING: return json_value(std::string(e.get_string().value_unsafe()));
    case element_type::ARRAY: {
      // Held in a named variable: value_unsafe() on the temporary result would dangle in a range-for.
      const simdjson::dom::array array = e.get_array().value_unsafe();
      json_array items;
      for (simdjson::dom::element item : array) items.push_back(convert(item));
      return json_value(std::move(items));
    }
    case element_type::OBJECT: {
      const simdjson::dom::object members = e.get_object().value_unsafe();
      json_value obj = json_value::object();
      for (simdjson::dom::key_value_pair kv : members)
        obj.set(std::string(kv.key), convert(kv.value));
      return obj;
    }
  }
  return json_value();
}

} // namespace

json_value parse_json(std::string_view text, const std::string& where) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(text);
  simdjson::dom::element root;
  const auto err = parser.parse(padded).get(root);
  if (err) {
    if (auto described = describe_json_syntax_error(text)) throw error(errc::bad_request, where, *described);
    // Well-formed by Python's grammar but refused here: NaN/Infinity, bad UTF-8, huge numbers, depth.
    throw error(errc::bad_request, where, std::string("invalid JSON: ") + simdjson::error_message(err));
  }
  return convert(root);
}

} // namespace sdw
