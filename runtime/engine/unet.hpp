#pragma once
/// The denoising UNet of SD1.x/SD2.x (ldm openaimodel) and SDXL base (sgm openaimodel: per-level
/// transformer depths, a label embedding of the `y` vector), loaded from `model.diffusion_model.*`.

#include "runtime/engine/model_config.hpp"
#include "runtime/engine/weights.hpp"

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sdw {

class safetensors_file;
class unet_graphs;

/// eps = unet(x, t, context[, y]).
class unet {
public:
  explicit unet(const unet_config& config);
  ~unet();
  unet(unet&&) noexcept;
  unet& operator=(unet&&) noexcept;

  /// Loads the weights; errors name the file and tensor.
  void load(const std::shared_ptr<const safetensors_file>& file, const weight_placement& placement);

  /// x: [B, 4, h, w] latents, t: [B] (fractional) timesteps, context: [B, L, context_dim], y:
  /// [B, adm_in_channels] for a UNet with a label embedding (SDXL), else undefined.
  /// `token_merging`: A1111's token merging ratio (token_merge.hpp); 0 merges nothing.
  /// Returns the predicted noise, same shape and dtype as x.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context,
                     const at::Tensor& y = at::Tensor(), double token_merging = 0) const;

  const unet_config& config() const noexcept { return config_; }

  /// CUDA graphs of the step (on CUDA with weight_placement::cuda_graphs). The graphs are a
  /// cache, not the model's state: hence const. Forget them when the weights' storage changes.
  void drop_graphs() const;
  void use_graphs(bool on) const;
  bool graphs_on() const;

  /// Every parameter with its checkpoint key; the handles share the module's tensors (LoRA
  /// patching swaps their data on the thread that runs the model).
  std::vector<std::pair<std::string, at::Tensor>> named_weights() const;

private:
  at::Tensor forward_eager(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context,
                           const at::Tensor& y, double token_merging) const;

  struct impl;
  c10::ScalarType dtype_ = c10::kFloat;  ///< compute dtype, from the placement at load
  at::MemoryFormat layout_ = at::MemoryFormat::Contiguous;  ///< activations' layout, from the placement
  unet_config config_;
  std::unique_ptr<impl> impl_;
  std::unique_ptr<unet_graphs> graphs_;
};

} // namespace sdw
