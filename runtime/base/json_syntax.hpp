#pragma once
/// Finds where a malformed JSON text first goes wrong, worded like Python's json module
/// ("Expecting value: line 1 column 1 (char 0)"), so clients see the messages A1111 gives.

#include <optional>
#include <string>
#include <string_view>

namespace sdw {

/// The first syntax error of `text` as "<what>: line L column C (char N)" (N counts code points),
/// or nothing when the text is well-formed JSON by Python's rules.
std::optional<std::string> describe_json_syntax_error(std::string_view text);

} // namespace sdw
