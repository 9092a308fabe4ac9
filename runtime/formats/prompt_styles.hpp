#pragma once
/// A1111's prompt styles (modules/styles.py): the styles.csv file as its StyleDatabase reads it,
/// and the search that takes styles back out of a prompt when an infotext is read.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sdw {

/// One style: its name and the texts it adds; a text is absent when its column is missing from
/// the row (Python's None, `null` in /sdapi/v1/prompt-styles).
struct prompt_style {
  std::string name;
  std::optional<std::string> prompt;
  std::optional<std::string> negative_prompt;
};

/// The rows of a CSV text as Python's csv.reader reads them (excel dialect, skipinitialspace):
/// quoted fields may hold commas, `""` and line breaks; a blank line is an empty row; a quoted field
/// still open at the end is kept.
std::vector<std::vector<std::string>> read_csv_rows(std::string_view text);

/// The styles of a styles.csv text, as StyleDatabase.load_from_csv keeps them: a UTF-8 BOM is
/// skipped; the first row names the columns; blank rows and rows whose name starts with '#' are
/// skipped; `prompt` falls back to the old `text` column; a missing `negative_prompt` column gives
/// ""; a name seen again replaces the earlier style in its place. Where A1111's loader stops with
/// an error (no `name` column, neither `prompt` nor `text`, a row too short to have a name), the
/// styles read so far are kept. Text that is not UTF-8 gives no styles.
std::vector<prompt_style> parse_prompt_styles(std::string_view csv_text);

/// The styles of the file at `path`; a missing or unreadable file has none (A1111 starts without
/// a styles.csv).
std::vector<prompt_style> load_prompt_styles(const std::string& path);

/// What extract_styles_from_prompt leaves: the styles found (in the order they were applied) and
/// the prompts without their text.
struct extracted_styles {
  std::vector<std::string> names;
  std::string prompt;
  std::string negative_prompt;
};

/// A1111's extract_styles_from_prompt: repeatedly takes the first style (in file order, each at most
/// once) whose prompt and negative prompt both match the end of the prompts (or, with `{prompt}`,
/// surround them), strips that text, and reports the styles in the order they were applied.
extracted_styles extract_styles_from_prompt(const std::vector<prompt_style>& styles, const std::string& prompt,
                                            const std::string& negative_prompt);

} // namespace sdw
