#pragma once
/// A1111's prompt syntax: comments, emphasis `(a)`/`[a]`/`(a:1.3)` with BREAK, prompt editing
/// `[from:to:when]` and alternation `[a|b]` schedules, and the AND split of composable diffusion.

#include <string>
#include <utility>
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

/// The texts of one prompt over the steps: (end_at_step, text) pairs, ascending, the last at
/// `steps` (or `hires_steps` when given). Text k is used for denoiser steps up to end_at_step k.
/// `[from:to:when]`, `[to:when]`, `[from::when]`, `[a|b|…]` alternation, nesting; `when` with a '.'
/// is a fraction of the steps, else a step number (A1111's new scheduling, unless
/// `use_old_scheduling`: when < 1 is a fraction). A prompt that does not parse gives {{steps, prompt}}.
/// `hires_steps` > 0 selects the schedule of a hires pass after `steps` base steps.
std::vector<std::pair<int, std::string>> prompt_schedule(const std::string& prompt, int steps,
                                                         int hires_steps = 0, bool use_old_scheduling = false);

/// One part of a prompt split on AND, with its trailing `:weight` (default 1).
struct weighted_prompt {
  std::string text;
  double weight;
};

/// Splits a (positive) prompt on the word AND and reads each part's trailing `:weight`.
std::vector<weighted_prompt> split_and(const std::string& prompt);

} // namespace sdw
