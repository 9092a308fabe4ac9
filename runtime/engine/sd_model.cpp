#include "runtime/engine/sd_model.hpp"

#include "runtime/catalog/file_hash.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/engine/safetensors.hpp"
#include "runtime/engine/sd1_layout.hpp"
#include "runtime/engine/torch_checkpoint.hpp"
#include "runtime/engine/v_prediction_probe.hpp"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <torch/cuda.h>

#include <filesystem>

namespace sdw {
namespace {

c10::ScalarType parse_dtype(const std::string& name, bool cuda) {
  if (name == "auto") {
    return cuda ? c10::kHalf : c10::kFloat;
  }
  if (name == "f32" || name == "fp32" || name == "float32") {
    return c10::kFloat;
  }
  if (name == "f16" || name == "fp16" || name == "float16") {
    return c10::kHalf;
  }
  if (name == "bf16" || name == "bfloat16") {
    return c10::kBFloat16;
  }
  throw error(errc::bad_request, "dtype", "unknown dtype '" + name + "' (use auto, f32, f16 or bf16)");
}

/// The checkpoint's own alphas_cumprod when it has one (A1111 loads it into the model's buffer).
at::Tensor alphas_cumprod_of(const safetensors_file& file, const model_config& config) {
  if (const st_tensor* t = file.find("alphas_cumprod")) {
    at::ScalarType type = t->dtype == st_dtype::f32   ? at::kFloat
                          : t->dtype == st_dtype::f16 ? at::kHalf
                          : t->dtype == st_dtype::bf16 ? at::kBFloat16
                          : t->dtype == st_dtype::f64 ? at::kDouble
                                                       : at::kFloat;
    if (t->shape.size() == 1 && t->shape[0] == config.timesteps && dtype_size(t->dtype) == at::elementSize(type)) {
      return at::from_blob(const_cast<uint8_t*>(t->data), {t->shape[0]}, at::TensorOptions().dtype(type))
        .to(at::kFloat, false, true);
    }
    throw error(errc::bad_checkpoint, file.path(), "tensor 'alphas_cumprod' has the wrong shape or dtype");
  }
  return discrete_schedule::sd1_alphas_cumprod(config.linear_start, config.linear_end, config.timesteps);
}

/// fp16 VAEs overflow to NaN on some images; worker-a1111 runs A1111 with --no-half-vae.
weight_placement vae_placement_of(const weight_placement& model, const device_options& options) {
  weight_placement p = model;
  if (options.vae_dtype == "f32") {
    p.dtype = c10::kFloat;
  } else if (options.vae_dtype != "model") {
    throw error(errc::bad_request, "vae_dtype", "unknown VAE dtype '" + options.vae_dtype + "' (use f32 or model)");
  }
  return p;
}

} // namespace

weight_placement resolve_placement(const device_options& options) {
  weight_placement p;
  const std::string& d = options.device;
  bool cuda = false;
  if (d == "auto") {
    cuda = torch::cuda::is_available();
    p.device = cuda ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  } else if (d == "cpu") {
    p.device = c10::Device(c10::kCPU);
  } else if (d.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available()) {
      throw error(errc::bad_request, "device", "'" + d + "' was asked for but this build or machine has no CUDA");
    }
    try {
      p.device = c10::Device(d);
    } catch (const std::exception&) {
      throw error(errc::bad_request, "device", "'" + d + "' is not a device name (cuda, cuda:0, …)");
    }
    cuda = true;
  } else {
    throw error(errc::bad_request, "device", "unknown device '" + d + "' (use auto, cpu, cuda or cuda:N)");
  }
  p.dtype = parse_dtype(options.dtype, cuda);
  p.keep_file_dtype = !cuda && options.keep_file_dtype;
  if (options.memory_format != "channels_last" && options.memory_format != "contiguous") {
    throw error(errc::bad_request, "memory_format",
                "unknown memory format '" + options.memory_format + "' (use channels_last or contiguous)");
  }
  p.channels_last = options.memory_format == "channels_last";
  p.cuda_graphs = cuda && options.cuda_graphs;
  if (cuda) {
    // Shapes repeat for every step of a job: timing cuDNN's algorithms once per shape pays.
    at::globalContext().setBenchmarkCuDNN(true);
  }
  if (!cuda && p.dtype == c10::kHalf) {
    throw error(errc::bad_request, "dtype", "f16 is not supported on CPU (use f32 or bf16)");
  }
  return p;
}

std::shared_ptr<sd_model> sd_model::load(const std::string& path, const device_options& options,
                                         const load_progress& progress) {
  auto report = [&](double f, const std::string& stage) {
    if (progress) {
      progress(f, stage);
    }
  };
  std::shared_ptr<sd_model> m(new sd_model());
  m->placement_ = resolve_placement(options);
  m->path_ = path;
  m->name_ = std::filesystem::path(path).stem().string();

  report(0.0, "reading " + path);
  std::shared_ptr<const safetensors_file> file = open_checkpoint_weights(path);
  m->config_ = load_model_config(path, *file);
  m->schedule_ = std::make_shared<discrete_schedule>(alphas_cumprod_of(*file, m->config_));
  // The variants a job may ask for; one a checkpoint's own ᾱ cannot give (too few timesteps for
  // LCM's table, a degenerate rescale) stays empty, and only a job asking for it is refused.
  // A1111 rounds ᾱ to fp16 first, then rescales it; the rescale of an fp16 ᾱ ends in an infinite σ,
  // so that variant stays empty.
  m->schedules_[0][0][0] = m->schedule_;
  const auto variant_of = [](auto make) -> std::shared_ptr<discrete_schedule> {
    try {
      return std::make_shared<discrete_schedule>(make());
    } catch (const error&) {
      return nullptr;
    }
  };
  m->schedules_[0][1][0] = variant_of([&] { return discrete_schedule::zero_terminal_snr(*m->schedule_); });
  m->schedules_[1][0][0] = variant_of([&] { return discrete_schedule::downcast(*m->schedule_); });
  for (auto& downcast : m->schedules_) {
    for (auto& variant : downcast) {
      if (variant[0]) variant[1] = variant_of([&] { return discrete_schedule::lcm(*variant[0]); });
    }
  }

  report(0.05, "text encoder");
  if (is_sdxl(m->config_)) {
    m->text_ = std::make_shared<text_encoder>(m->config_.text, std::string(sdxl_text_prefix));
    m->text_->load(file, m->placement_);
    m->text2_ = std::make_shared<text_encoder>(*m->config_.text2, std::string(sdxl_text2_prefix));
    m->text2_->load(file, m->placement_);
  } else {
    m->text_ = std::make_shared<text_encoder>(m->config_.text);
    m->text_->load(file, m->placement_);
  }
  report(0.2, "unet");
  m->unet_ = std::make_shared<sdw::unet>(m->config_.unet);
  m->unet_->load(file, m->placement_);
  if (m->config_.test_for_v_prediction) {
    m->config_.parameterization = unet_predicts_v(*m->unet_) ? prediction::v : prediction::eps;
  }
  report(0.85, "vae");
  m->vae_ = std::make_shared<sdw::vae>(m->config_.vae);
  m->vae_->load(file, vae_placement_of(m->placement_, options));
  // Hashing 2 GB takes seconds; it runs after the weights are in, off the caller's thread, and
  // only the infotext of the first job waits for it.
  m->sha256_ = std::async(std::launch::async, [path] { return cached_file_sha256(path); }).share();
  report(1.0, "ready");
  return m;
}

std::shared_ptr<sd_model> sd_model::with_vae(const std::string& vae_path, const device_options& options) const {
  std::shared_ptr<sd_model> m(new sd_model(*this));
  std::shared_ptr<const safetensors_file> file = open_vae_weights(vae_path);
  auto own = std::make_shared<sdw::vae>(config_.vae);
  own->load(file, vae_placement_of(placement_, options), "");
  m->vae_ = std::move(own);
  m->vae_path_ = vae_path;
  m->vae_name_ = std::filesystem::path(vae_path).filename().string();
  m->vae_hash_ = sdw::short_hash(cached_file_sha256(vae_path));
  return m;
}

size_t sd_model::weight_bytes() const {
  size_t n = vae_->weight_bytes();
  for (const auto& [_, t] : text_->named_weights()) {
    n += t.nbytes();
  }
  if (text2_) {
    for (const auto& [_, t] : text2_->named_weights()) {
      n += t.nbytes();
    }
  }
  for (const auto& [_, t] : unet_->named_weights()) {
    n += t.nbytes();
  }
  return n;
}

const discrete_schedule& sd_model::schedule_for(const sampler_info& sampler, noise_schedule_kind kind,
                                                bool downcast) const {
  const bool rescaled = kind == noise_schedule_kind::zero_terminal_snr;
  const auto& chosen = schedules_[downcast ? 1 : 0][rescaled ? 1 : 0][sampler.lcm_denoiser ? 1 : 0];
  if (chosen) return *chosen;
  if (downcast && rescaled)
    throw error(errc::bad_request, "override_settings.use_downcasted_alpha_bar",
                "with sd_noise_schedule \"Zero Terminal SNR\" the fp16 ᾱ gives an infinite σ (A1111 fails there too)");
  // The checkpoint's ᾱ cannot give this variant: made again, to throw what stopped it.
  discrete_schedule base = downcast ? discrete_schedule::downcast(*schedule_) : *schedule_;
  if (rescaled) base = discrete_schedule::zero_terminal_snr(base);
  discrete_schedule::lcm(base);
  throw error(errc::internal, "sampler", "no noise schedule for this sampler");
}

std::string sd_model::sha256() const { return sha256_.get(); }

} // namespace sdw
