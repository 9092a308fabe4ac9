#include "runtime/base/json_value.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/base/json_syntax.hpp"

#include <simdjson.h>

#include <algorithm>
#include <unordered_map>

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

json_object unique_members(std::vector<json_member> members) {
  // Small objects (most of them) are cheaper to scan than to hash.
  constexpr std::size_t scan_up_to = 16;
  json_object out;
  out.reserve(members.size());
  if (members.size() <= scan_up_to) {
    for (auto& m : members) {
      auto same = std::find_if(out.begin(), out.end(), [&](const json_member& o) { return o.first == m.first; });
      if (same != out.end()) {
        same->second = std::move(m.second);
      } else {
        out.push_back(std::move(m));
      }
    }
    return out;
  }
  // The keys are views into `out`, which never reallocates: it has room for every member.
  std::unordered_map<std::string_view, std::size_t> index;
  index.reserve(members.size());
  for (auto& m : members) {
    if (auto it = index.find(m.first); it != index.end()) {
      out[it->second].second = std::move(m.second);
      continue;
    }
    out.push_back(std::move(m));
    index.emplace(out.back().first, out.size() - 1);
  }
  return out;
}

namespace {

[[noreturn]] void too_deep(const json_limits& limits, const std::string& where) {
  throw error(errc::bad_request, where,
              "the JSON document is nested deeper than " + std::to_string(limits.max_depth) + " levels");
}

class converter {
public:
  converter(const json_limits& limits, const std::string& where) : limits_(limits), where_(where) {}

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
        const level inside(*this);
        // Held in a named variable: value_unsafe() on the temporary result would dangle in a range-for.
        const simdjson::dom::array array = e.get_array().value_unsafe();
        json_array items;
        for (simdjson::dom::element item : array) {
          count();
          items.push_back(convert(item));
        }
        return json_value(std::move(items));
      }
      case element_type::OBJECT: {
        const level inside(*this);
        const simdjson::dom::object object = e.get_object().value_unsafe();
        std::vector<json_member> members;
        for (simdjson::dom::key_value_pair kv : object) {
          count();
          members.emplace_back(std::string(kv.key), convert(kv.value));
        }
        return json_value(unique_members(std::move(members)));
      }
    }
    return json_value();
  }

private:
  // One container deeper for as long as it lives.
  struct level {
    explicit level(converter& c) : c_(c) {
      if (++c_.depth_ > c_.limits_.max_depth) too_deep(c_.limits_, c_.where_);
    }
    ~level() { --c_.depth_; }
    converter& c_;
  };

  void count() {
    if (++values_ > limits_.max_values)
      throw error(errc::bad_request, where_,
                  "the JSON document has more than " + std::to_string(limits_.max_values) +
                    " values (array items and object members)");
  }

  const json_limits& limits_;
  const std::string& where_;
  std::size_t values_ = 0;
  std::size_t depth_ = 0;
};

} // namespace

json_value parse_json(std::string_view text, const std::string& where, const json_limits& limits) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(text);
  // simdjson counts a scalar inside the deepest container as a level, so it is given one more and
  // the converter counts containers exactly; either refusal reads the same.
  if (parser.allocate(std::max<std::size_t>(padded.size(), 64), limits.max_depth + 1) != simdjson::SUCCESS)
    throw error(errc::internal, where, "cannot allocate a JSON parser for " + std::to_string(text.size()) + " bytes");
  simdjson::dom::element root;
  const auto err = parser.parse(padded).get(root);
  if (err == simdjson::DEPTH_ERROR) too_deep(limits, where);
  if (err) {
    if (auto described = describe_json_syntax_error(text)) throw error(errc::bad_request, where, *described);
    // Well-formed by Python's grammar but refused here: NaN/Infinity, bad UTF-8, huge numbers.
    throw error(errc::bad_request, where, std::string("invalid JSON: ") + simdjson::error_message(err));
  }
  return converter(limits, where).convert(root);
}

} // namespace sdw
