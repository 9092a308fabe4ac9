// JSON text → json_value (simdjson, limits, Python's duplicate-key rule) → both writers → back.
// Whatever parses must write and read back to the same value, and the Python-style syntax
// checker must agree that it is well-formed.
#include "fuzz/fuzz_check.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/base/json_syntax.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/base/json_writer.hpp"

using namespace sdw;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text = fuzz::text_of(data, size);
  json_value value;
  try {
    value = parse_json(text);
  } catch (const error& e) {
    SDW_FUZZ_CHECK(e.code() == errc::bad_request);
    SDW_FUZZ_CHECK(!e.message().empty());
    return 0;
  }
  SDW_FUZZ_CHECK(!describe_json_syntax_error(text));

  const std::string compact = to_json(value, json_style::compact);
  SDW_FUZZ_CHECK(parse_json(compact) == value);
  SDW_FUZZ_CHECK(to_json(parse_json(compact), json_style::compact) == compact);
  const std::string python = to_json(value, json_style::python);
  SDW_FUZZ_CHECK(parse_json(python) == value);
  python_str(value);
  return 0;
}
