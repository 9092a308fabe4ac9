// A1111's LCM sampler (sd_samplers_lcm.sample_lcm): each step jumps to the denoised prediction and
// noises it afresh to the next σ. The LCM denoiser itself is the model wrapper's part (cfg_denoiser
// over discrete_schedule::lcm).
#include "runtime/engine/samplers_impl.hpp"

#include <ATen/ATen.h>

namespace sdw::detail {

at::Tensor sample_lcm(run_context& c, at::Tensor x) {
  const int n = static_cast<int>(c.sigmas.size(0) - 1);
  for (int i = 0; i < n; ++i) {
    x = c.denoise(x, c.sigmas[i]);
    // k-diffusion's default noise sampler: a fresh draw (rng.next()) for every noised step.
    if (c.sigmas[i + 1].item<float>() > 0) x = x + c.noise(x) * c.sigmas[i + 1].to(x.device());
    c.step_done(i);
  }
  return x;
}

} // namespace sdw::detail
