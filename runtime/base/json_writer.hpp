#pragma once
/// JSON text output in the two styles A1111 produces: compact UTF-8 for HTTP bodies and Python's
/// default `json.dumps` style for the `info` string. Floats print as Python's `repr`.

#include "runtime/base/json_value.hpp"

#include <string>
#include <string_view>

namespace sdw {

/// How to write JSON text.
enum class json_style {
  /// `json.dumps(v, ensure_ascii=False, separators=(",", ":"))`: `{"a":1,"b":"é"}`.
  compact,
  /// Python's default `json.dumps(v)`: `{"a": 1, "b": "\u00e9"}` (ASCII only, surrogate pairs).
  python,
};

/// Writes `v` as JSON text. NaN or infinite floats → sdw::error(bad_request, "json", ...).
std::string to_json(const json_value& v, json_style style = json_style::compact);

/// A float as Python's `repr`: shortest round-trip digits, `7.0`, `0.75`, `1e-05`, `1e+16`, `-0.0`.
/// NaN/inf print as `nan`/`inf`/`-inf` (Python `str`); JSON writers reject them before this.
std::string python_float_repr(double d);

/// A string as a JSON string literal with quotes, escaped like Python's json.dumps
/// (`ensure_ascii` true: every non-ASCII character as \uXXXX, astral ones as surrogate pairs).
std::string json_quote(std::string_view utf8, bool ensure_ascii);

/// Python's `str()` of a value: strings as they are, `True`/`False`/`None`, ints, float repr;
/// lists and dicts in Python's repr form (`['a', 1]`, `{'k': 1.0}`).
std::string python_str(const json_value& v);

} // namespace sdw
