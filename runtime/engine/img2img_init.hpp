#pragma once
/// The starting point of img2img: the init images made into latents as A1111 1.9.4's
/// StableDiffusionProcessingImg2Img.init does it (flatten, resize_image, VAE encode, posterior sample).

#include "runtime/formats/options.hpp"
#include "runtime/formats/txt2img_request.hpp"
#include "runtime/image/image8.hpp"

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <vector>

namespace sdw {

class sd_model;

struct inpaint_plan;

/// The images the VAE encodes, one per batch row: each init image flattened onto the option
/// `img2img_background_color` and, unless resize_mode is 3, resized to width×height with
/// A1111's resize_image (with `inpaint`, prepared by prepare_inpaint_image instead, which also
/// records the overlays); a single image is repeated batch_size times, several are the batch.
/// Errors name the field: bad colour → "img2img_background_color", unusable size → "init_images.<i>".
std::vector<image8> prepare_init_images(const txt2img_request& request, const options& opts,
                                        inpaint_plan* inpaint = nullptr);

/// How many images one n_iter batch of an img2img request makes: batch_size for one init image,
/// else the number of init images (A1111 shrinks batch_size to it).
int img2img_batch_size(const txt2img_request& request);

/// The init latents [rows, C, height/8, width/8] on the model's device: each prepared image
/// (prepare_init_images) in [-1, 1] through the VAE encoder, a sample of the posterior (mean + std·noise), times the
/// scale factor; resize_mode 3 then resizes the latents bilinearly. A1111 draws the posterior noise
/// from torch's global CPU generator, whose state is whatever earlier jobs left; here it is a CPU
/// generator with torch's default seed (67280421310721; `posterior_noise` from
/// default_torch_generator()), drawn image after image, which is what A1111 gives for its first
/// img2img job after start, and the same for every job.
/// The option `sd_vae_encode_method` "TAESD" → sdw::error(unsupported): no TAESD model ships.
at::Tensor encode_init_images(const sd_model& model, const txt2img_request& request, const options& opts,
                              const std::vector<image8>& images, at::Generator& posterior_noise);

/// A CPU generator in the state A1111's global one has at start (torch_default_seed).
at::Generator default_torch_generator();

/// get_first_stage_encoding(encode_first_stage(x)): x [B, 3, H, W] in [-1, 1] through the VAE
/// encoder, the posterior sampled with noise drawn image after image from `gen`, times the scale
/// factor. [B, C, H/8, W/8] on the model's device.
at::Tensor encode_first_stage(const sd_model& model, const at::Tensor& x, at::Generator& gen);

/// RGB images as one float tensor [B, 3, H, W] in [0, 1] (A1111's np.array(image) / 255, channels
/// first); the images must have one size.
at::Tensor unit_range_pixels(const std::vector<image8>& images);

/// torch's default CPU seed (c10::default_rng_seed_val): its global generator's state at start.
constexpr uint64_t torch_default_seed = 67280421310721ULL;

/// A1111's images_tensor_to_samples for RGB images: each image through the VAE encoder, a posterior
/// sample with noise drawn image after image from a CPU generator seeded with `noise_seed`, times
/// the scale factor. [images, C, H/8, W/8] on the model's device.
at::Tensor encode_pixels(const sd_model& model, const std::vector<image8>& images, uint64_t noise_seed);

/// The same with the noise drawn from `gen` (a CPU generator), which it advances.
at::Tensor encode_pixels(const sd_model& model, const std::vector<image8>& images, at::Generator& gen);

} // namespace sdw
