#pragma once
/// The image conditioning inpainting checkpoints take beside the latents (A1111's c_concat for
/// "hybrid" models), [rows, 5, h, w]: a mask channel, then the latents of the masked picture.

#include "runtime/image/image8.hpp"

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <vector>

namespace sdw {

class sd_model;

/// txt2img_image_conditioning: the whole picture is to be painted, so a mid-gray image (0.5) is
/// encoded, one posterior sample per row with noise from `gen`, behind a mask channel of ones.
at::Tensor txt2img_inpaint_conditioning(const sd_model& model, int rows, int width, int height, at::Generator& gen);

/// inpainting_image_conditioning for img2img: the prepared init images (RGB) with the masked area
/// taken towards black by `mask_weight` (torch.lerp(x, x·(1 − mask), weight), x in [−1, 1]), encoded
/// with posterior noise from `gen`, behind the mask (L at the images' size, rounded to 0 or 1 when
/// `round`; null: all ones) resized to the latents' latent_h × latent_w (nearest).
at::Tensor img2img_inpaint_conditioning(const sd_model& model, const std::vector<image8>& images, const image8* mask,
                                        bool round, double mask_weight, int64_t latent_h, int64_t latent_w,
                                        at::Generator& gen);

/// inpainting_image_conditioning with no mask, as the hires pass asks for it: `source` [B, 3, H, W]
/// (whatever range the caller's A1111 path hands over) taken towards 0 by `mask_weight`, encoded
/// with posterior noise from `gen`, behind a mask channel of ones at the latents' size.
at::Tensor unmasked_inpaint_conditioning(const sd_model& model, const at::Tensor& source, double mask_weight,
                                         at::Generator& gen);

} // namespace sdw
