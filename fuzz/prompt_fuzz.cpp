// A prompt through A1111's prompt syntax: comments, emphasis and BREAK, AND, and the prompt-editing
// schedule. The first two bytes choose the steps (1..150) and the hires steps (0..150, old
// scheduling on odd values); the rest is the prompt. Only a malformed weight may be refused
// (sdw::error); a schedule is ascending and ends at the last step.
#include "fuzz/fuzz_check.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/formats/prompt_attention.hpp"
#include "runtime/formats/prompt_schedule.hpp"

using namespace sdw;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const int steps = 1 + data[0] % 150;
  const int hires_steps = data[1] % 151;
  const bool old_scheduling = data[1] % 2 == 1;
  const std::string prompt = fuzz::text_of(data + 2, size - 2);

  const std::string stripped = strip_prompt_comments(prompt);
  SDW_FUZZ_CHECK(stripped.size() <= prompt.size());
  try {
    const std::vector<weighted_text> runs = parse_prompt_attention(stripped);
    SDW_FUZZ_CHECK(!runs.empty());
  } catch (const error& e) {
    SDW_FUZZ_CHECK(e.code() == errc::bad_request);
  }
  prompt_uses_emphasis(stripped);
  SDW_FUZZ_CHECK(!split_and(stripped).empty());

  const auto schedule = prompt_schedule(stripped, steps, hires_steps, old_scheduling);
  SDW_FUZZ_CHECK(!schedule.empty());
  const int last = hires_steps > 0 && !old_scheduling ? hires_steps : steps;
  SDW_FUZZ_CHECK(schedule.back().first == last);
  for (std::size_t i = 0; i < schedule.size(); ++i) {
    SDW_FUZZ_CHECK(schedule[i].first >= 1);
    SDW_FUZZ_CHECK(i == 0 || schedule[i - 1].first < schedule[i].first);
  }
  return 0;
}
