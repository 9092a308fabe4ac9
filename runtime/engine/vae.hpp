#pragma once
/// The SD1.x autoencoder (ldm AutoencoderKL), loaded from `first_stage_model.*`.

#include "runtime/engine/model_config.hpp"
#include "runtime/engine/weights.hpp"

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <memory>

namespace sdw {

class safetensors_file;

/// Latents ↔ images. Images are [B, 3, H, W] in [-1, 1]; latents [B, 4, H/8, W/8], already
/// multiplied by the scale factor (0.18215), as samplers see them.
class vae {
public:
  explicit vae(const vae_config& config);
  ~vae();
  vae(vae&&) noexcept;
  vae& operator=(vae&&) noexcept;

  /// Loads the weights; errors name the file and tensor.
  void load(const std::shared_ptr<const safetensors_file>& file, const weight_placement& placement,
            const std::string& prefix = "first_stage_model.");

  /// decode_first_stage: z / scale_factor → post_quant_conv → decoder.
  at::Tensor decode(const at::Tensor& latents) const;

  /// The posterior of encode_first_stage: mean and log-variance (each [B, z, h, w], unscaled).
  std::pair<at::Tensor, at::Tensor> encode_moments(const at::Tensor& images) const;

  const vae_config& config() const noexcept { return config_; }

  /// Bytes held by the weights.
  size_t weight_bytes() const;

private:
  struct impl;
  c10::ScalarType dtype_ = c10::kFloat;  ///< compute dtype, from the placement at load
  at::MemoryFormat layout_ = at::MemoryFormat::Contiguous;  ///< activations' layout, from the placement
  vae_config config_;
  std::unique_ptr<impl> impl_;
};

} // namespace sdw
