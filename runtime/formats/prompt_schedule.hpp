#pragma once
/// A1111's prompt editing over the steps: `[from:to:when]` and alternation `[a|b]` schedules.

#include <string>
#include <utility>
#include <vector>

namespace sdw {

/// The texts of one prompt over the steps: (end_at_step, text) pairs, ascending, the last at
/// `steps` (or `hires_steps` when given). Text k is used for denoiser steps up to end_at_step k.
/// `[from:to:when]`, `[to:when]`, `[from::when]`, `[a|b|…]` alternation, nesting; `when` with a '.'
/// is a fraction of the steps, else a step number (A1111's new scheduling, unless
/// `use_old_scheduling`: when < 1 is a fraction). A prompt that does not parse gives {{steps, prompt}}.
/// `hires_steps` > 0 selects the schedule of a hires pass after `steps` base steps.
std::vector<std::pair<int, std::string>> prompt_schedule(const std::string& prompt, int steps,
                                                         int hires_steps = 0, bool use_old_scheduling = false);

} // namespace sdw
