#pragma once
/// Seeded noise as A1111 1.9.4 draws it (`modules/rng.py`): one generator per image, variation
/// seeds, seed resize, eta noise seed delta, and the three sources CPU, GPU and NV (Philox emulation).

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sdw {

/// Where noise comes from (option `randn_source`).
enum class rng_source { cpu, gpu, nv };

/// "GPU", "CPU" or "NV" (as the option stores them); throws bad_request("randn_source") otherwise.
rng_source parse_rng_source(const std::string& name);
/// The option value for a source ("GPU", "CPU", "NV").
const char* rng_source_name(rng_source source);

/// A1111's CPU emulation of CUDA `torch.randn` (`rng_philox.Generator`): Philox4x32-10 with
/// counter (offset, 0, n, 0) and key = seed, first Box–Muller output per element, float32 on CPU.
at::Tensor randn_nv(uint64_t seed, uint64_t offset, at::IntArrayRef shape);

/// A1111's `randn_local(seed, shape)`: one float32 draw from a fresh generator of the source seeded
/// with `seed` (NV: Philox offset 0), returned on `device`. The GPU source draws from a CUDA
/// generator when `device` is CUDA and from the CPU one otherwise, as image_rng does.
at::Tensor randn_local(rng_source source, uint64_t seed, at::IntArrayRef shape, at::Device device);

/// A1111's variation-seed slerp on one (C,H,W) noise tensor: normalises along dim 1 and falls back to
/// the (weight-swapped) linear mix `low·val + high·(1−val)` when the inputs are nearly parallel.
at::Tensor slerp_noise(double val, const at::Tensor& low, const at::Tensor& high);

/// The noise of one batch: per-image generators seeded with each image's seed (A1111 `ImageRNG`).
class image_rng {
public:
  /// `seeds` has one entry per image; `subseeds` may be shorter (missing ones count as 0) and is used
  /// only when `subseed_strength` ≠ 0; `shape_chw` is the latent shape of one image; the seed resize
  /// applies when both `seed_resize_from_h` and `_w` are > 0 (in pixels); a nonzero
  /// `eta_noise_seed_delta` re-seeds the generators with seed+delta after the first draw. The GPU
  /// source draws from CUDA generators when `device` is CUDA and falls back to CPU otherwise.
  image_rng(rng_source source, std::vector<int64_t> seeds, std::vector<int64_t> subseeds,
            double subseed_strength, std::array<int64_t, 3> shape_chw, int seed_resize_from_h,
            int seed_resize_from_w, int64_t eta_noise_seed_delta, at::Device device);
  ~image_rng();
  image_rng(image_rng&&) noexcept;
  image_rng& operator=(image_rng&&) noexcept;

  /// The initial noise [B,C,H,W] float32 on the device (variation slerp and seed resize applied).
  at::Tensor first();
  /// The next draw of every image's generator [B,C,H,W]; the first call returns first().
  at::Tensor next();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace sdw
