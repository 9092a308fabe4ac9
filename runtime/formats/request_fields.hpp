#pragma once
/// Lenient field coercion in the manner of pydantic v1 (what A1111's API models do), shared by the
/// request parsers. Each function names `field` in the sdw::error it throws, with pydantic's message.

#include "runtime/base/json_value.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace sdw {

/// int: integers; floats truncated toward zero (20.7 → 20); booleans (1/0); strings holding an
/// integer ("20", " -3 ", "1_000"). Else "value is not a valid integer".
std::int64_t coerce_int(const json_value& v, const std::string& field);

/// The same, also requiring the value to fit in an int ("value is not a valid integer" otherwise).
int coerce_int32(const json_value& v, const std::string& field);

/// float: numbers, booleans, strings Python's float() accepts ("7", "1e-3", "inf").
/// Else "value is not a valid float".
double coerce_float(const json_value& v, const std::string& field);

/// bool: true/false, 0/1, and the strings 0/off/f/false/n/no and 1/on/t/true/y/yes (any case).
/// Else "value could not be parsed to a boolean".
bool coerce_bool(const json_value& v, const std::string& field);

/// str: strings; numbers and booleans as Python's str() ("7", "7.5", "True"). Else "str type expected".
std::string coerce_str(const json_value& v, const std::string& field);

/// list: arrays only. Else "value is not a valid list".
const json_array& coerce_list(const json_value& v, const std::string& field);

/// list[str]: an array of str-coercible items (an item's error names "<field>.<index>").
std::vector<std::string> coerce_str_list(const json_value& v, const std::string& field);

/// dict[str, Any]: objects, or arrays of [key, value] pairs (as Python's dict() takes).
/// Else "value is not a valid dict".
json_object coerce_dict(const json_value& v, const std::string& field);

/// The number of Unicode code points in a UTF-8 string.
std::size_t utf8_length(const std::string& s);

} // namespace sdw
