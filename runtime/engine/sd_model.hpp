#pragma once
/// A loaded SD1.x checkpoint: its configuration, the three networks and the noise schedule.

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
};

/// Resolves device_options to a concrete placement; an unknown name or a CUDA request on a
/// machine without CUDA is an error naming the option.
weight_placement resolve_placement(const device_options& options);

/// Called while loading with a fraction in [0, 1] and what is being done.
using load_progress = std::function<void(double fraction, const std::string& stage)>;

/// One checkpoint in memory, ready to sample. Immutable after load; share it freely.
class sd_model {
public:
  /// Reads `path` (.safetensors; .ckpt is refused with advice), its YAML if present, and loads
  /// all weights onto the placement. Errors name the file and tensor.
  static std::shared_ptr<sd_model> load(const std::string& path, const device_options& options,
                                        const load_progress& progress = {});

  const model_config& config() const noexcept { return config_; }
  const text_encoder& text() const noexcept { return *text_; }
  const sdw::unet& unet() const noexcept { return *unet_; }
  const sdw::vae& vae() const noexcept { return *vae_; }
  const discrete_schedule& schedule() const noexcept { return *schedule_; }
  const weight_placement& placement() const noexcept { return placement_; }

  /// The checkpoint path and A1111's model name (file name without directory and extension).
  const std::string& path() const noexcept { return path_; }
  const std::string& name() const noexcept { return name_; }

  /// sha256 of the whole file (computed in the background from load; blocks until ready).
  std::string sha256() const;
  /// A1111's "Model hash": the first 10 hex digits of sha256().
  std::string short_hash() const { return sha256().substr(0, 10); }

private:
  sd_model() = default;
  model_config config_;
  weight_placement placement_;
  std::unique_ptr<text_encoder> text_;
  std::unique_ptr<sdw::unet> unet_;
  std::unique_ptr<sdw::vae> vae_;
  std::unique_ptr<discrete_schedule> schedule_;
  std::string path_, name_;
  std::shared_future<std::string> sha256_;
};

} // namespace sdw
