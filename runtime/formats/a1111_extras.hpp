#pragma once
/// A1111's extras routes at the API edge: POST /sdapi/v1/extra-single-image (ExtrasSingleImageRequest)
/// and POST /sdapi/v1/extra-batch-images (ExtrasBatchImagesRequest), as 1.9.4's api.py and
/// postprocessing.run_postprocessing answer them with the built-in upscalers.

#include "runtime/formats/a1111_api.hpp"
#include "runtime/image/extras_upscale.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace sdw {

/// An extras request after pydantic's checks; the images are still base64 text.
struct extras_request {
  extras_upscale_params upscale;
  bool upscale_by_given = false;  ///< the body set upscaling_resize (the default 2 stays an int in the infotext)
  bool show_extras_results = true;
  double gfpgan_visibility = 0;
  double codeformer_visibility = 0;
  double codeformer_weight = 0;
  bool upscale_first = false;
  /// The images with the field each came in (`image`, `imageList.<i>.data`).
  std::vector<std::pair<std::string, std::string>> images;
};

/// Reads the body of the single (`batch` false) or batch route with pydantic v1's coercions and
/// ExtrasBaseRequest's constraints: resize_mode 0 or 1; the visibilities and codeformer_weight
/// 0..1 and finite; upscaling_resize > 0; upscaling_resize_w/h ≥ 1; `image` (default "") or
/// `imageList` [{data, name}] (required). Errors: sdw::error(bad_request, "<field>", pydantic's message).
extras_request parse_extras_request(const json_value& body, bool batch);

/// Refuses an upscaler name the extras cannot use (A1111 checks upscaler_2 only when upscaler_1
/// is not "None"), as check_upscaler_name does with the installed model upscalers: a model
/// upscaler whose file is absent (ESRGAN_4x, R-ESRGAN 4x+, LDSR, SwinIR 4x, ...) →
/// sdw::error(bad_request, field, "... needs its model file <file> ..."); any other name but None,
/// Lanczos, Nearest and the present model upscalers (the Latent modes too: they are hires-fix
/// modes, not upscalers) → sdw::error(bad_request, field, "could not find upscaler named ...").
void check_extras_upscalers(const extras_upscale_params& p);

/// The infotext run_postprocessing stores and shows for one image: "Postprocess upscale by: 2,
/// Postprocess upscaler: Lanczos" and the like ("" when upscaler_1 is None).
std::string extras_infotext(const extras_request& r);

/// ui_common.plaintext_to_html: `<p>` + the lines HTML-escaped, joined by `<br>\n` + `</p>`.
std::string plaintext_to_html(const std::string& text);

/// What the answer depends on besides the body: the stored option `enable_pnginfo`.
struct extras_settings {
  bool enable_pnginfo = true;
  int esrgan_tile = 192;         ///< ESRGAN_tile: model upscalers' tiles
  int esrgan_tile_overlap = 8;   ///< ESRGAN_tile_overlap
};

/// POST /sdapi/v1/extra-single-image (`batch` false) → `{"html_info","image"}`, or
/// /extra-batch-images → `{"html_info","images":[...]}`: each image converted to RGB, upscaled as
/// extras_upscale does, and returned as base64 PNG with the input PNG's text chunks, its
/// `parameters`, and the infotext in a `postprocessing` chunk (when enable_pnginfo; otherwise the
/// input's chunks as they were, none on a cropped canvas). Face restoration (gfpgan/codeformer
/// visibility) is accepted and not run: no face model ships, the image is returned as it is.
/// Errors: pydantic's 422; an image that does not decode → A1111's 500 "Invalid encoded image
/// (<field>: why)", a URL → 500 "Requests not allowed"; an unusable upscaler → 422 naming it; a
/// result over the decoder's limits (max_image_pixels, 16384 on a side) or with no pixels → 422
/// naming upscaling_resize or upscaling_resize_w/h.
http_answer extras_answer(std::string_view body, bool batch, const extras_settings& settings);

} // namespace sdw
