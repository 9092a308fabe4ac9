#pragma once
/// A1111's image routes at the API edge: POST /sdapi/v1/png-info (the generation parameters stored
/// in an image) and POST /sdapi/v1/interrogate (which sdworker refuses: no interrogator ships).

#include "runtime/base/json_value.hpp"
#include "runtime/formats/a1111_api.hpp"
#include "runtime/formats/infotext_parse.hpp"

#include <map>
#include <string>
#include <string_view>

namespace sdw {

/// What A1111's read_info_from_image finds in an image's text: the generation text ("" when the
/// image has none) and every other entry (by key; PIL keeps the file's order).
struct image_text_info {
  std::string info;
  json_object items;
};

/// read_info_from_image over a PNG's text chunks: `parameters` is the generation text, unless a
/// `comment` chunk is present (then it is, and stays among the items); `exif` and the keys A1111
/// ignores (dpi, icc_profile, ...) are dropped; a NovelAI image (Software "NovelAI") has its
/// Description and Comment JSON turned into an infotext (with the image's size).
image_text_info read_image_text_info(const std::map<std::string, std::string>& text_chunks, int width, int height);

/// The built-in Lora extension's infotext_pasted callback for the additional-networks extension's
/// keys: each "AddNet Model N" of module "LoRA" adds `<lora:name:weight>` to "Prompt".
void apply_addnet_infotext(json_value& parameters);

/// The options that change how png-info parses an infotext (infotext_styles, infotext_skip_pasting,
/// auto_backcompat, use_old_hires_fix_width_height), read from a GET /sdapi/v1/options body; a key
/// that is missing or of another type keeps its default.
infotext_parse_options png_info_options(std::string_view options_json);

/// POST /sdapi/v1/png-info: the body as PNGInfoRequest (`image`, a required string: 422 otherwise),
/// the image as decode_base64_to_image takes it (an optional `data:image/...;base64,` prefix),
/// then `{"info": text, "items": {other text chunks}, "parameters": parse_generation_parameters(text)}`.
/// Undecodable data → 500 HTTPException "Invalid encoded image (image: why)" as A1111 answers;
/// an http(s) URL → 500 "Requests not allowed" (sdworker downloads nothing); another image format
/// than PNG → 422 naming it.
http_answer png_info_answer(std::string_view body, const infotext_parse_options& options);

/// POST /sdapi/v1/interrogate: the body as InterrogateRequest (`image` and `model` strings, 422
/// otherwise), then A1111's answer for a model it does not have: 404 "Model not found", since no
/// interrogator (CLIP or DeepDanbooru) ships with sdworker.
http_answer interrogate_answer(std::string_view body);

} // namespace sdw
