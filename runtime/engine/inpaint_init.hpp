#pragma once
/// Inpainting as A1111 1.9.4's StableDiffusionProcessingImg2Img does it: the mask made binary,
/// inverted, blurred and fitted to the picture (or the picture cropped to it, "only masked"); the
/// init images filled under the mask; the latent mask that keeps the original outside it during and
/// after sampling; and the overlay that pastes the original pixels back over the answer.

#include "runtime/base/json_value.hpp"
#include "runtime/engine/rng.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/formats/txt2img_request.hpp"
#include "runtime/image/inpaint_mask.hpp"
#include "runtime/image/model_upscalers.hpp"

#include <ATen/core/Tensor.h>

#include <optional>
#include <vector>

namespace sdw {

class sd_model;

/// A request's inpainting state.
struct inpaint_plan {
  image8 image_mask;                 ///< L at width×height: what the latent mask comes from
  image8 mask_for_overlay;           ///< L: the mask the overlay cuts with (the picture's size)
  std::optional<crop_box> crop;      ///< only masked: the region of the picture that is processed
  std::vector<image8> overlays;      ///< RGBA per batch row: the original outside the mask
  bool overlay = true;               ///< option overlay_inpaint
  int fill = 0;                      ///< inpainting_fill
  bool round = true;                 ///< mask_round
  at::Tensor mask;                   ///< [1, C, h, w]: 1 where the init latent is kept
  at::Tensor nmask;                  ///< 1 − mask
  json_object extra;                 ///< infotext entries, in A1111's order
  bool return_mask = false;          ///< option return_mask: the mask follows each image
  bool return_mask_composite = false;  ///< option return_mask_composite: then the masked pixels on transparency
  std::string upscaler = "None";     ///< option upscaler_for_img2img: the picture's resize upscaler
  model_upscale_use upscale_use;     ///< its tiles (ESRGAN_tile, ESRGAN_tile_overlap)
};

/// The mask stage of init: create_binary_mask, inpainting_mask_invert ("Mask mode"), the blur
/// ("Mask blur"), then either the only-masked crop ("Inpaint area", "Masked area padding"; a blank
/// mask → sdw::error(bad_request, "mask")) or the resize to width×height with resize_mode.
inpaint_plan make_inpaint_mask(const txt2img_request& request, const options& opts);

/// The pixel stage for one flattened init image (before any resize): its overlay recorded, then
/// the image resized (or cropped and resized) to width×height and, unless inpainting_fill is 1
/// ("original"), filled under the mask ("Masked content": fill).
image8 prepare_inpaint_image(inpaint_plan& plan, const txt2img_request& request, image8 image);

/// The latent stage: the blend masks from image_mask at the latents' size, and inpainting_fill 2
/// (latent noise: the noise of the first batch's seeds under the mask) and 3 (latent nothing: zeros
/// under the mask) applied to `init_latent`.
void finish_inpaint_latents(inpaint_plan& plan, at::Tensor& init_latent, const std::vector<int64_t>& first_seeds,
                            rng_source source);

/// The answer of one image: A1111's apply_overlay (uncropped into the picture when only the masked
/// region was processed, then the original composited over it) when the option overlay_inpaint is
/// on; `row` is the image's index in its batch.
image8 overlay_result(const inpaint_plan& plan, const image8& generated, int row);

/// What A1111 appends after each inpainted image, in its order: with return_mask the mask (RGB),
/// with return_mask_composite the generated pixels inside the mask on a transparent canvas (RGBA),
/// made from the image as generated (before the overlay).
std::vector<image8> returned_mask_images(const inpaint_plan& plan, const image8& generated);

} // namespace sdw
