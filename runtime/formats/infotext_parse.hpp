#pragma once
/// Reading an infotext back: A1111 1.9.4's parse_generation_parameters (modules/infotext_utils.py),
/// what /sdapi/v1/png-info answers as `parameters`.

#include "runtime/base/json_value.hpp"
#include "runtime/formats/prompt_styles.hpp"

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace sdw {

/// What the parse depends on besides the text: the options it reads and the styles it knows.
struct infotext_parse_options {
  std::string infotext_styles = "Apply if any";  ///< option: "Ignore", "Apply", "Discard", "Apply if any"
  std::vector<std::string> infotext_skip_pasting;  ///< option: keys dropped from the result
  bool auto_backcompat = true;                      ///< option: old versions' compatibility keys
  bool use_old_hires_fix_width_height = false;      ///< option
  std::vector<prompt_style> styles;                 ///< styles.csv, for taking styles out of the prompts
  /// Whether a prompt uses emphasis (a run weighted other than 1 by A1111's parse_prompt_attention);
  /// unset = never. The worker passes prompt_uses_emphasis (prompt_attention.hpp).
  std::function<bool(const std::string&)> uses_emphasis;
};

/// The `key: value` pairs of an infotext's parameter line, as A1111's re_param finds them: keys
/// start with a word character and hold word characters, spaces, '-' and '/'; a value is a JSON
/// string in quotes or runs to the next comma.
std::vector<std::pair<std::string, std::string>> infotext_pairs(const std::string& line);

/// parse_generation_parameters: the last line is the parameter line when it has at least three
/// pairs; lines before "Negative prompt:" are the prompt, the rest the negative prompt; quoted
/// values are JSON-unquoted; `WxH` values become `<key>-1`/`<key>-2`; styles found at the end of
/// the prompts are taken out ("Styles array"); then A1111's defaults for keys the text lacks
/// ("Clip skip": "1", "Hires resize-1": 0, "RNG": "GPU", "Schedule type": "Automatic", ...), old
/// hires-fix sizes, "Emphasis", the backward-compatibility keys of the text's Version, and the
/// skipped keys dropped. Keys keep A1111's order (a dict's insertion order).
json_value parse_generation_parameters(const std::string& text, const infotext_parse_options& options);

} // namespace sdw
