#pragma once
/// A1111's prompt syntax, the parts that hold for every step: comments, emphasis
/// `(a)`/`[a]`/`(a:1.3)` with BREAK, and the AND split of composable diffusion.

#include <string>
#include <vector>

namespace sdw {

/// Removes `#` comments: whole comment lines and `#…` up to the end of a line (each becomes "\n").
std::string strip_prompt_comments(const std::string& prompt);

/// One run of prompt text with its attention multiplier; the marker {"BREAK", -1} closes a chunk.
struct weighted_text {
  std::string text;
  float weight;
};

/// Parses emphasis: `(a)` ×1.1, `[a]` ÷1.1, `(a:w)` ×w, `\(` `\)` `\[` `\]` `\\` literal, unmatched
/// closers literal, unclosed openers applied to the end, equal-weight neighbours merged, BREAK
/// split out; "" gives {{"", 1}}. Throws sdw::error(bad_request, "prompt") for a weight like "1.2.3".
std::vector<weighted_text> parse_prompt_attention(const std::string& text);

/// Whether a prompt uses emphasis: a run other than BREAK weighted other than 1 by
/// parse_prompt_attention (a weight like "1.2.3", which A1111 fails on, counts as none).
bool prompt_uses_emphasis(const std::string& prompt);

/// One part of a prompt split on AND, with its trailing `:weight` (default 1).
struct weighted_prompt {
  std::string text;
  double weight;
};

/// Splits a (positive) prompt on the word AND and reads each part's trailing `:weight`.
std::vector<weighted_prompt> split_and(const std::string& prompt);

} // namespace sdw
