#include "runtime/engine/checkpoint_switch.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/engine/embedding_library.hpp"
#include "runtime/engine/model_cache.hpp"
#include "runtime/engine/noise_schedule.hpp"
#include "runtime/engine/sd_model.hpp"

#include <ATen/ATen.h>

namespace sdw {

std::optional<checkpoint_switch> switch_to(const switch_choice& choice, const std::string& field,
                                           std::shared_ptr<model_cache> cache, const sd_model& own,
                                           const std::string& own_vae, bool hires) {
  if (!choice.named()) {
    return std::nullopt;
  }
  checkpoint_switch to{choice.title, choice.checkpoint, {}};
  if (!hires || choice.checkpoint != own.path() || choice.vae != own_vae) {
    // The cache gives the job's own model back when the paths name the same file.
    to.load = [cache = std::move(cache), path = choice.checkpoint, vae = choice.vae, field] {
      if (!cache) {
        throw error(errc::unsupported, field, "this worker runs only its startup checkpoint");
      }
      return cache->get(path, vae);
    };
  }
  return to;
}

void check_switch_target(const sd_model& first, const sd_model& second, const std::string& field) {
  const model_config& a = first.config();
  const model_config& b = second.config();
  if (std::string(model_family(a)) != model_family(b) || a.unet.in_channels != b.unet.in_channels ||
      a.unet.context_dim != b.unet.context_dim || !(embedding_kind_of(a) == embedding_kind_of(b))) {
    const auto kind = [](const model_config& c) {
      return std::string(model_family(c)) + (is_inpainting(c) ? " inpainting" : "");
    };
    throw error(errc::unsupported, field,
                "switching to a checkpoint of another kind is not supported: " + second.name() + " is " + kind(b) +
                  ", " + first.name() + " is " + kind(a));
  }
}

float completed_ratio_at_sigma(const discrete_schedule& schedule, const at::Tensor& sigma) {
  const at::Tensor s = sigma.max().to(at::kCPU, at::kFloat);
  const int64_t t = (schedule.sigmas().to(at::kCPU) - s).abs().argmin().item<int64_t>();
  return static_cast<float>(999 - t) / 1000.0f;
}

float completed_ratio_at_timestep(const at::Tensor& t) {
  // torch's .to(int) truncates toward zero, as the cast does.
  const auto step = static_cast<int64_t>(t.max().item<float>());
  return static_cast<float>(999 - step) / 1000.0f;
}

} // namespace sdw
