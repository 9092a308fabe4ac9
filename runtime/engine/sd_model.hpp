#pragma once
/// A loaded SD1.x, SD2.x or SDXL base checkpoint: its configuration, the networks and the noise schedule.

#include "runtime/engine/model_config.hpp"
#include "runtime/engine/noise_schedule.hpp"
#include "runtime/engine/text_encoder.hpp"
#include "runtime/engine/unet.hpp"
#include "runtime/engine/vae.hpp"
#include "runtime/engine/weights.hpp"

#include <functional>
#include <future>
#include <memory>
#include <string>

namespace sdw {

class safetensors_file;

/// Where to run: "cpu", "cuda", "cuda:N" or "auto" (CUDA when available). fp16 weights on CUDA,
/// fp32 on CPU unless `dtype` says otherwise ("f32", "f16", "bf16", "auto").
struct device_options {
  std::string device = "auto";
  std::string dtype = "auto";
  /// The VAE's dtype: "f32" (as worker-a1111 runs A1111, with --no-half-vae) or "model".
  std::string vae_dtype = "f32";
  /// CPU only: keep fp16/bf16 weights in the file mapping (fast load) instead of widening them
  /// all to float32 at load (faster steps).
  bool keep_file_dtype = true;
  /// The networks' memory layout: "channels_last" (faster convolutions) or "contiguous".
  std::string memory_format = "channels_last";
  /// CUDA only: capture the UNet's step as a CUDA graph per shape and replay it.
  bool cuda_graphs = true;
};

/// Resolves device_options to a concrete placement; an unknown name or a CUDA request on a
/// machine without CUDA is an error naming the option.
weight_placement resolve_placement(const device_options& options);

/// Called while loading with a fraction in [0, 1] and what is being done.
using load_progress = std::function<void(double fraction, const std::string& stage)>;

/// One checkpoint in memory, ready to sample. Immutable after load; share it freely.
class sd_model {
public:
  /// Reads `path` (.safetensors, or .ckpt/.pt/.pth through the restricted torch.save reader), its
  /// YAML if present, and loads all weights onto the placement. Errors name the file and tensor.
  static std::shared_ptr<sd_model> load(const std::string& path, const device_options& options,
                                        const load_progress& progress = {});

  /// The same model with the autoencoder of the VAE file at `vae_path` (`.safetensors`, `.pt` or
  /// `.ckpt`, with A1111's VAE keys: encoder.*, decoder.*, quant_conv.*, post_quant_conv.*) instead of its own;
  /// the text encoder and UNet are shared, not copied. Errors name the VAE file and tensor.
  std::shared_ptr<sd_model> with_vae(const std::string& vae_path, const device_options& options) const;

  const model_config& config() const noexcept { return config_; }
  /// What the UNet predicts: from the yaml, else (SD2) A1111's test run at load, else eps.
  prediction parameterization() const noexcept { return config_.parameterization; }
  /// The text encoder (SDXL: CLIP ViT-L, conditioner.embedders.0).
  const text_encoder& text() const noexcept { return *text_; }
  /// SDXL: OpenCLIP bigG (conditioner.embedders.1); null for SD1 and SD2.
  const text_encoder* text2() const noexcept { return text2_.get(); }
  const sdw::unet& unet() const noexcept { return *unet_; }
  const sdw::vae& vae() const noexcept { return *vae_; }
  const discrete_schedule& schedule() const noexcept { return *schedule_; }
  /// The schedule a sampler's model wrapper works on: the model's (rounded to fp16 when `downcast`,
  /// option use_downcasted_alpha_bar; rescaled for zero terminal SNR when `kind` asks for it), or
  /// LCM's table of it for the LCM sampler (discrete_schedule::lcm). Throws when the checkpoint's ᾱ
  /// cannot give that variant.
  const discrete_schedule& schedule_for(const sampler_info& sampler,
                                        noise_schedule_kind kind = noise_schedule_kind::model_default,
                                        bool downcast = false) const;
  const weight_placement& placement() const noexcept { return placement_; }

  /// The checkpoint path and A1111's model name (file name without directory and extension).
  const std::string& path() const noexcept { return path_; }
  const std::string& name() const noexcept { return name_; }

  /// sha256 of the whole file (computed in the background from load; blocks until ready).
  std::string sha256() const;
  /// A1111's "Model hash": the first 10 hex digits of sha256().
  std::string short_hash() const { return sha256().substr(0, 10); }

  /// The VAE file in use as A1111 names it (file name with extension); empty for the
  /// checkpoint's own VAE.
  const std::string& vae_name() const noexcept { return vae_name_; }
  /// The VAE file's path, empty for the checkpoint's own.
  const std::string& vae_path() const noexcept { return vae_path_; }
  /// A1111's "VAE hash" (10 hex digits of the VAE file's sha256); empty for the checkpoint's own.
  const std::string& vae_short_hash() const noexcept { return vae_hash_; }

  /// Bytes held by the weights of the three networks.
  size_t weight_bytes() const;

private:
  sd_model() = default;
  model_config config_;
  weight_placement placement_;
  // Shared so that a model with another VAE shares the rest.
  std::shared_ptr<text_encoder> text_;
  std::shared_ptr<text_encoder> text2_;
  std::shared_ptr<sdw::unet> unet_;
  std::shared_ptr<sdw::vae> vae_;
  std::shared_ptr<discrete_schedule> schedule_;
  /// schedule_for's variants: [downcast][zero terminal SNR][LCM]; [0][0][0] is schedule_. A variant
  /// the model's ᾱ cannot give (no LCM table, a degenerate rescale, fp16 rounding to 0 or 1) is null.
  std::shared_ptr<discrete_schedule> schedules_[2][2][2];
  std::string path_, name_;
  std::string vae_path_, vae_name_, vae_hash_;
  std::shared_future<std::string> sha256_;
};

} // namespace sdw
