#pragma once
/// Classifier-free guidance around the UNet, batched as A1111's CFGDenoiser does it:
/// cond rows (one per AND part) then uncond rows, one UNet call when token lengths match.

#include "runtime/engine/conditioning.hpp"
#include "runtime/engine/model_config.hpp"

#include <ATen/core/Tensor.h>

#include <vector>

namespace sdw {

class unet;
class discrete_schedule;

/// How prompt and negative prompt of different token lengths are evened out so they share one UNet
/// call (A1111's options pad_cond_uncond_v0, which wins, and pad_cond_uncond); none: separate calls.
enum class cond_padding {
  none,
  empty_prompt,  ///< the shorter side gets copies of the empty prompt's conditioning (77 tokens each)
  last_vector,   ///< the negative's last vector repeated, or the negative cut, to the prompt's length
};

/// Counts denoiser calls (the step prompt schedules are read at) and applies CFG.
class cfg_denoiser {
public:
  /// `cfg_scales` has one scale per image (images of different requests batched together keep
  /// their own), or a single scale for all. `parameterization` is what the UNet predicts.
  cfg_denoiser(const sdw::unet& model, const discrete_schedule& schedule, prediction parameterization,
               std::vector<multi_cond> conds,
               std::vector<cond_schedule> unconds, std::vector<double> cfg_scales, bool batch_cond_uncond = true,
               double s_min_uncond = 0.0);

  /// k-diffusion: denoised prediction for x at per-row sigma [B] (CompVisDenoiser for eps models,
  /// CompVisVDenoiser for v models).
  at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma);

  /// Timestep samplers (DDIM, PLMS, UniPC): guided eps for x at integer timesteps t [B] (a v
  /// model's output turned into eps per row, as A1111's CompVisTimestepsVDenoiser).
  at::Tensor eps(const at::Tensor& x, const at::Tensor& t);

  int step() const noexcept { return step_; }

  /// Evens out token lengths with `mode`; `empty` is the model's conditioning of the empty prompt
  /// [77, width] (for empty_prompt).
  void set_cond_padding(cond_padding mode, at::Tensor empty);
  /// Whether the last model call padded (A1111 notes "Pad conds" / "Pad conds v0" from it).
  bool padded() const noexcept { return padded_; }

  /// Goes on with another model and its prompts' conditioning (A1111's refiner: the same rows, in
  /// the same order); the step count carries on.
  void switch_model(const sdw::unet& model, const discrete_schedule& schedule, prediction parameterization,
                    std::vector<multi_cond> conds, std::vector<cond_schedule> unconds);

  /// Inpainting (A1111's apply_blend): `init` is kept where `mask` is 1 (`nmask` = 1 − mask), in the
  /// denoised output of denoise() and, as A1111's timestep samplers mask before denoising, in the
  /// input of eps(). Tensors broadcast against the batch [B, C, H, W].
  void set_blend(at::Tensor init, at::Tensor mask, at::Tensor nmask);
  /// x · nmask + init · mask, or x when no blend is set.
  at::Tensor blend(const at::Tensor& x) const;

  /// Inpainting models: the image conditioning [B, 5, H, W] (mask, masked-image latents) joined to
  /// every row's UNet input along the channels, as A1111's c_concat.
  void set_image_cond(at::Tensor image_cond) { image_cond_ = std::move(image_cond); }

  /// A1111's token merging at `ratio` in every UNet call (token_merge.hpp); 0 merges nothing.
  void set_token_merging(double ratio) { token_merging_ = ratio; }

private:
  /// Runs the model on the CFG batch; `model_out(x_in, s_in, cond, y, image_cond)` gives one output per row.
  template <class F>
  at::Tensor guided(const at::Tensor& x, const at::Tensor& s, F&& model_out);
  /// Evens out the token lengths of `cond` and `uncond` by padding_.
  void pad(at::Tensor& cond, at::Tensor& uncond) const;
  /// The UNet input of rows `x` (already scaled) with their image conditioning rows `ic`, if any.
  at::Tensor unet_input(const at::Tensor& x, const at::Tensor& ic) const;

  const sdw::unet* unet_;
  const discrete_schedule* schedule_;
  prediction parameterization_;
  std::vector<multi_cond> conds_;
  std::vector<cond_schedule> unconds_;
  std::vector<double> cfg_scales_;
  bool batch_cond_uncond_;
  double s_min_uncond_;
  int step_ = 0;
  cond_padding padding_ = cond_padding::none;
  at::Tensor empty_cond_;
  bool padded_ = false;
  at::Tensor blend_init_, blend_mask_, blend_nmask_;
  at::Tensor image_cond_;
  double token_merging_ = 0.0;
};

} // namespace sdw
