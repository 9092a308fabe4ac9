// An infotext (a PNG's `parameters` text) read back as /sdapi/v1/png-info does. The first byte
// chooses the options that change the parse (styles handling, backward compatibility, old hires
// sizes); the rest is the text. Parsing never refuses: the result is a JSON object that writes
// and reads back.
#include "fuzz/fuzz_check.hpp"

#include "runtime/base/json_value.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/base/unicode_text.hpp"
#include "runtime/formats/infotext_parse.hpp"
#include "runtime/formats/prompt_attention.hpp"

using namespace sdw;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static const char* const styles_modes[] = {"Ignore", "Apply", "Discard", "Apply if any"};
  infotext_parse_options options;
  options.infotext_styles = styles_modes[data[0] % 4];
  options.auto_backcompat = (data[0] & 4) == 0;
  options.use_old_hires_fix_width_height = (data[0] & 8) != 0;
  if (data[0] & 16) options.infotext_skip_pasting = {"Seed", "Size-1", "Hires resize-2"};
  options.styles = {{"cinematic", "cinematic still of {prompt}, film grain", "cartoon"},
                    {"sharp", "sharp focus", ""}};
  options.uses_emphasis = prompt_uses_emphasis;
  const std::string text = fuzz::text_of(data + 1, size - 1);

  for (const auto& [key, value] : infotext_pairs(text)) SDW_FUZZ_CHECK(!key.empty());
  const json_value parameters = parse_generation_parameters(text, options);
  SDW_FUZZ_CHECK(parameters.is_object());
  // The writer replaces bytes that are not UTF-8 (an iTXt chunk may hold any) with U+FFFD; valid
  // text must come back as it was.
  const json_value back = parse_json(to_json(parameters), "parameters", {64, 1u << 20});
  if (unicode::is_valid_utf8(text)) SDW_FUZZ_CHECK(back == parameters);
  return 0;
}
