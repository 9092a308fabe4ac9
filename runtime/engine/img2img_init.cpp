#include "runtime/engine/img2img_init.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/engine/inpaint_init.hpp"
#include "runtime/engine/sd_model.hpp"
#include "runtime/image/model_upscalers.hpp"
#include "runtime/image/resample.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>

namespace sdw {
namespace {

/// One RGB image through the encoder: uint8 HWC → float32 [1, 3, H, W] / 255 (numpy's
/// astype(float32) / 255), 2x − 1, then encode_first_stage.
at::Tensor encode_one(const sd_model& model, const image8& im, at::Generator& gen) {
  auto pixels = at::from_blob(const_cast<uint8_t*>(im.pixels.data()), {im.height, im.width, 3}, at::kByte)
                    .to(at::kFloat)
                    .div(255.0)
                    .permute({2, 0, 1})
                    .unsqueeze(0);
  return encode_first_stage(model, pixels * 2 - 1, gen);
}

} // namespace

at::Tensor unit_range_pixels(const std::vector<image8>& images) {
  std::vector<at::Tensor> rows;
  for (const image8& im : images) {
    rows.push_back(at::from_blob(const_cast<uint8_t*>(im.pixels.data()), {im.height, im.width, 3}, at::kByte)
                     .to(at::kFloat)
                     .div(255.0)
                     .permute({2, 0, 1}));
  }
  return at::stack(rows);
}

at::Generator default_torch_generator() { return at::make_generator<at::CPUGeneratorImpl>(torch_default_seed); }

at::Tensor encode_first_stage(const sd_model& model, const at::Tensor& x, at::Generator& gen) {
  c10::InferenceMode guard;
  std::vector<at::Tensor> out;
  for (int64_t i = 0; i < x.size(0); ++i) {
    auto [mean, logvar] = model.vae().encode_moments(x.narrow(0, i, 1));
    auto noise = at::randn(mean.sizes(), gen, at::TensorOptions().dtype(at::kFloat));
    out.push_back((mean + at::exp(0.5 * logvar) * noise.to(mean.device(), mean.scalar_type())) *
                  model.config().vae.scale_factor);
  }
  return out.size() == 1 ? out.front() : at::cat(out);
}

int img2img_batch_size(const txt2img_request& request) {
  return request.init_images.size() > 1 ? static_cast<int>(request.init_images.size()) : request.batch_size;
}

std::vector<image8> prepare_init_images(const txt2img_request& req, const options& opts, inpaint_plan* inpaint) {
  const rgb_color background = parse_color(opts.img2img_background_color, "img2img_background_color");
  // resize_image's default upscaler; a model one runs on the installed upscalers' device.
  const std::string upscaler = opts.upscaler_for_img2img.value_or("None");
  if (upscaler != "None") check_upscaler_name("upscaler_for_img2img", upscaler);
  const model_upscale_use use{nullptr, opts.ESRGAN_tile, opts.ESRGAN_tile_overlap};
  std::vector<image8> out;
  for (std::size_t i = 0; i < req.init_images.size(); ++i) {
    image8 image = flatten(req.init_images[i], background);
    if (inpaint) {
      out.push_back(prepare_inpaint_image(*inpaint, req, std::move(image)));
      continue;
    }
    if (req.resize_mode != 3) {
      try {
        image = to_rgb(a1111_resize_image(req.resize_mode, image, req.width, req.height, upscaler, use));
      } catch (const error& e) {
        throw error(errc::bad_request, "init_images." + std::to_string(i),
                    "cannot be resized from " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                      " to " + std::to_string(req.width) + "x" + std::to_string(req.height) + " with resize_mode " +
                      std::to_string(req.resize_mode) + ": " + e.message());
      }
    } else if (image.width < 8 || image.height < 8) {
      throw error(errc::bad_request, "init_images." + std::to_string(i),
                  "is too small for the VAE: " + std::to_string(image.width) + "x" + std::to_string(image.height));
    }
    out.push_back(std::move(image));
  }
  if (out.size() == 1) {
    const auto rows = static_cast<std::size_t>(img2img_batch_size(req));
    out.resize(rows, out.front());
    if (inpaint) inpaint->overlays.resize(rows, inpaint->overlays.front());
  }
  return out;
}

at::Tensor encode_init_images(const sd_model& model, const txt2img_request& req, const options& opts,
                              const std::vector<image8>& images, at::Generator& gen) {
  c10::InferenceMode guard;
  if (opts.sd_vae_encode_method != "Full")
    throw error(errc::unsupported, "sd_vae_encode_method",
                "\"" + opts.sd_vae_encode_method + "\" needs a TAESD model, which this worker does not have; use \"Full\"");
  std::vector<at::Tensor> latents;
  for (const image8& im : images) {
    at::Tensor z = encode_one(model, im, gen);
    if (req.resize_mode == 3) {
      z = at::upsample_bilinear2d(z, {req.height / 8, req.width / 8}, false);
    }
    latents.push_back(z);
  }
  return at::cat(latents).contiguous();
}

at::Tensor encode_pixels(const sd_model& model, const std::vector<image8>& images, uint64_t noise_seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(noise_seed);
  return encode_pixels(model, images, gen);
}

at::Tensor encode_pixels(const sd_model& model, const std::vector<image8>& images, at::Generator& gen) {
  c10::InferenceMode guard;
  std::vector<at::Tensor> latents;
  for (const image8& im : images) latents.push_back(encode_one(model, im, gen));
  return at::cat(latents).contiguous();
}

} // namespace sdw
