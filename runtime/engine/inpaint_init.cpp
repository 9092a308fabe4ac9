#include "runtime/engine/inpaint_init.hpp"

#include "runtime/image/mask_composite.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/engine/rng.hpp"
#include "runtime/image/resample.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>

namespace sdw {
namespace {

std::string size_text(const image8& im) { return std::to_string(im.width) + "x" + std::to_string(im.height); }

/// images.resize_image for a mask: A1111 resizes an L image with Lanczos in every mode; modes 1 to
/// 3 paste it onto an RGB canvas, whose channels stay equal, so L is kept.
image8 resize_mask(int mode, const image8& mask, int width, int height) {
  return to_gray(a1111_resize_image(mode, mask, width, height));
}

} // namespace

inpaint_plan make_inpaint_mask(const txt2img_request& req, const options& opts) {
  inpaint_plan p;
  p.overlay = opts.overlay_inpaint;
  p.fill = req.inpainting_fill;
  p.round = req.mask_round;
  p.return_mask = opts.return_mask;
  p.return_mask_composite = opts.return_mask_composite;
  p.upscaler = opts.upscaler_for_img2img.value_or("None");
  if (p.upscaler != "None") check_upscaler_name("upscaler_for_img2img", p.upscaler);
  p.upscale_use = {nullptr, opts.ESRGAN_tile, opts.ESRGAN_tile_overlap};
  image8 mask = create_binary_mask(*req.mask_image, req.mask_round);
  if (req.inpainting_mask_invert != 0) {
    mask = invert_mask(mask);
    p.extra.emplace_back("Mask mode", json_value("Inpaint not masked"));
  }
  if (req.mask_blur_x > 0 || req.mask_blur_y > 0) {
    mask = blur_mask(mask, req.mask_blur_x, req.mask_blur_y);
    // A1111's mask_blur property: one number when both directions agree, else None.
    p.extra.emplace_back("Mask blur", req.mask_blur_x == req.mask_blur_y ? json_value(req.mask_blur_x) : json_value());
  }
  if (req.inpaint_full_res) {
    p.mask_for_overlay = mask;
    crop_box region = get_crop_region(mask, req.inpaint_full_res_padding);
    if (region.x1 >= region.x2 || region.y1 >= region.y2) {
      throw error(errc::bad_request, "mask",
                  "is blank: inpainting only the masked area (inpaint_full_res) needs a painted area; send "
                  "inpaint_full_res false or a mask with white pixels");
    }
    region = expand_crop_region(region, req.width, req.height, mask.width, mask.height);
    p.image_mask = resize_mask(2, crop(mask, region), req.width, req.height);
    p.crop = region;
    p.extra.emplace_back("Inpaint area", json_value("Only masked"));
    p.extra.emplace_back("Masked area padding", json_value(req.inpaint_full_res_padding));
  } else {
    p.image_mask = resize_mask(req.resize_mode, mask, req.width, req.height);
    p.mask_for_overlay = double_mask(p.image_mask);
  }
  return p;
}

image8 prepare_inpaint_image(inpaint_plan& p, const txt2img_request& req, image8 image) {
  if (!p.crop && req.resize_mode != 3) image = to_rgb(a1111_resize_image(req.resize_mode, image, req.width, req.height, p.upscaler, p.upscale_use));
  if (p.mask_for_overlay.width != image.width || p.mask_for_overlay.height != image.height) {
    p.mask_for_overlay = resize_mask(req.resize_mode, p.mask_for_overlay, image.width, image.height);
  }
  p.overlays.push_back(make_overlay(image, p.mask_for_overlay));
  if (p.crop) image = to_rgb(a1111_resize_image(2, crop(image, *p.crop), req.width, req.height, p.upscaler, p.upscale_use));
  if (p.fill != 1) {
    if (image.width != p.image_mask.width || image.height != p.image_mask.height) {
      // resize_mode 3 leaves the picture at its own size; A1111's fill then fails on the sizes.
      throw error(errc::bad_request, "mask",
                  "cannot fill the masked area of a " + size_text(image) + " image with a " + size_text(p.image_mask) +
                    " mask: with resize_mode 3 the init image must be width x height, or use inpainting_fill 1");
    }
    image = inpaint_fill(image, p.image_mask);
    if (p.fill == 0 && std::none_of(p.extra.begin(), p.extra.end(), [](const auto& kv) { return kv.first == "Masked content"; })) {
      p.extra.emplace_back("Masked content", json_value("fill"));
    }
  }
  return image;
}

void finish_inpaint_latents(inpaint_plan& p, at::Tensor& init_latent, const std::vector<int64_t>& first_seeds,
                            rng_source source) {
  c10::InferenceMode guard;
  const int64_t channels = init_latent.size(1), lh = init_latent.size(2), lw = init_latent.size(3);
  std::vector<float> values = latent_mask_values(p.image_mask, static_cast<int>(lw), static_cast<int>(lh), p.round);
  const auto latmask = at::from_blob(values.data(), {1, 1, lh, lw}, at::kFloat)
                           .expand({1, channels, lh, lw})
                           .to(init_latent.device(), init_latent.scalar_type())
                           .contiguous();
  p.mask = 1.0 - latmask;
  p.nmask = latmask;
  if (p.fill == 2) {
    // A1111 draws this noise once, in init, from the first batch's seeds (every n_iter batch reuses it).
    image_rng rng(source, std::vector<int64_t>(first_seeds.begin(), first_seeds.begin() + init_latent.size(0)), {},
                  0.0, {channels, lh, lw}, 0, 0, 0, init_latent.device());
    init_latent = init_latent * p.mask + rng.first().to(init_latent.scalar_type()) * p.nmask;
    p.extra.emplace_back("Masked content", json_value("latent noise"));
  } else if (p.fill == 3) {
    init_latent = init_latent * p.mask;
    p.extra.emplace_back("Masked content", json_value("latent nothing"));
  }
}

image8 overlay_result(const inpaint_plan& p, const image8& generated, int row) {
  if (!p.overlay || row >= static_cast<int>(p.overlays.size())) return generated;
  const crop_box paste_to = p.crop.value_or(crop_box{});
  return apply_overlay(generated, p.crop ? &paste_to : nullptr, p.overlays[static_cast<std::size_t>(row)]);
}

std::vector<image8> returned_mask_images(const inpaint_plan& p, const image8& generated) {
  std::vector<image8> out;
  if (p.return_mask) out.push_back(returned_mask(p.mask_for_overlay));
  if (p.return_mask_composite) {
    const crop_box paste_to = p.crop.value_or(crop_box{});
    out.push_back(mask_composite(generated, p.crop && p.overlay ? &paste_to : nullptr, p.mask_for_overlay));
  }
  return out;
}

} // namespace sdw
