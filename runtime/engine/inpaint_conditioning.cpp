#include "runtime/engine/inpaint_conditioning.hpp"

#include "runtime/engine/img2img_init.hpp"
#include "runtime/engine/sd_model.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

namespace sdw {
namespace {

/// torch.lerp(x, x·(1 − mask), weight) encoded, behind the mask [1, 1, H, W] resized to the latents (nearest).
at::Tensor masked_picture_conditioning(const sd_model& model, const at::Tensor& source, const at::Tensor& mask,
                                       double mask_weight, int64_t latent_h, int64_t latent_w, at::Generator& gen) {
  const at::Tensor masked = at::lerp(source, source * (1.0 - mask), mask_weight);
  const at::Tensor latents = encode_first_stage(model, masked, gen);
  const at::Tensor small = at::upsample_nearest2d(mask, {latent_h, latent_w}).expand({latents.size(0), -1, -1, -1});
  return at::cat({small.to(latents.device(), latents.scalar_type()), latents}, 1);
}

} // namespace

at::Tensor txt2img_inpaint_conditioning(const sd_model& model, int rows, int width, int height, at::Generator& gen) {
  c10::InferenceMode guard;
  // images_tensor_to_samples of 0.5 everywhere: 2·0.5 − 1 = 0 goes to the encoder.
  const at::Tensor gray = at::ones({rows, 3, height, width}, at::kFloat) * 0.5;
  const at::Tensor latents = encode_first_stage(model, gray * 2 - 1, gen);
  return at::constant_pad_nd(latents, {0, 0, 0, 0, 1, 0}, 1.0);
}

at::Tensor img2img_inpaint_conditioning(const sd_model& model, const std::vector<image8>& images, const image8* mask,
                                        bool round, double mask_weight, int64_t latent_h, int64_t latent_w,
                                        at::Generator& gen) {
  c10::InferenceMode guard;
  const at::Tensor source = unit_range_pixels(images) * 2 - 1;
  at::Tensor m;
  if (mask != nullptr) {
    m = at::from_blob(const_cast<uint8_t*>(mask->pixels.data()), {1, 1, mask->height, mask->width}, at::kByte)
          .to(at::kFloat)
          .div(255.0);
    if (round) m = at::round(m);
  } else {
    m = at::ones({1, 1, source.size(2), source.size(3)}, at::kFloat);
  }
  return masked_picture_conditioning(model, source, m, mask_weight, latent_h, latent_w, gen);
}

at::Tensor unmasked_inpaint_conditioning(const sd_model& model, const at::Tensor& source, double mask_weight,
                                         at::Generator& gen) {
  c10::InferenceMode guard;
  const at::Tensor x = source.to(at::kCPU, at::kFloat);
  const at::Tensor ones = at::ones({1, 1, x.size(2), x.size(3)}, at::kFloat);
  return masked_picture_conditioning(model, x, ones, mask_weight, x.size(2) / 8, x.size(3) / 8, gen);
}

} // namespace sdw
