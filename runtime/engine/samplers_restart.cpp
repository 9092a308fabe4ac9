// A1111's Restart sampler (`sd_samplers_extra.restart_sampler`): Heun steps on a Karras schedule
// with extra segments that jump back up in noise and repeat part of the trajectory.
#include "runtime/engine/samplers_impl.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <map>

namespace sdw::detail {

namespace {

at::Tensor karras(int n, double sigma_min, double sigma_max) {
  const double rho = 7.0;
  auto ramp = at::linspace(0, 1, n, at::TensorOptions().dtype(at::kFloat));
  const double min_inv_rho = std::pow(sigma_min, 1 / rho), max_inv_rho = std::pow(sigma_max, 1 / rho);
  auto s = (ramp * (min_inv_rho - max_inv_rho) + max_inv_rho).pow(rho);
  return at::cat({s, at::zeros({1}, s.options())});
}

int64_t nearest_index(const at::Tensor& sigmas, double value) {
  return (sigmas - value).abs().argmin(0).item<int64_t>();
}

struct restart_plan {
  int steps, times;
  double max_sigma;
};

} // namespace

at::Tensor sample_restart(run_context& c, at::Tensor x) {
  at::Tensor sigmas = c.sigmas;
  const int steps = static_cast<int>(sigmas.size(0) - 1);
  // Upstream's automatic plan: one restart segment near σ = 0.1 back up to σ = 2, paid for by
  // shortening the main schedule, which is rebuilt as Karras over the same range.
  std::map<int64_t, restart_plan> plan;
  if (steps >= 20) {
    int restart_steps = 9, restart_times = 1;
    if (steps >= 36) {
      restart_steps = steps / 4;
      restart_times = 2;
    }
    sigmas = karras(steps - restart_steps * restart_times, sigmas[-2].item<double>(), sigmas[0].item<double>());
    plan[nearest_index(sigmas, 0.1)] = {restart_steps + 1, restart_times, 2.0};
  }

  std::vector<std::pair<at::Tensor, at::Tensor>> step_list;
  for (int64_t i = 0; i + 1 < sigmas.size(0); ++i) {
    step_list.emplace_back(sigmas[i], sigmas[i + 1]);
    auto it = plan.find(i + 1);
    if (it == plan.end()) continue;
    const int64_t min_idx = i + 1;
    const int64_t max_idx = nearest_index(sigmas, it->second.max_sigma);
    if (max_idx < min_idx) {
      auto restart = karras(it->second.steps, sigmas[min_idx].item<double>(), sigmas[max_idx].item<double>());
      restart = restart.slice(0, 0, restart.size(0) - 1);
      for (int t = 0; t < it->second.times; ++t)
        for (int64_t k = 0; k + 1 < restart.size(0); ++k) step_list.emplace_back(restart[k], restart[k + 1]);
    }
  }

  c.total_steps = static_cast<int>(step_list.size());
  at::Tensor last_sigma;
  int step_id = 0;
  for (const auto& [old_sigma, new_sigma] : step_list) {
    if (!last_sigma.defined()) {
      last_sigma = old_sigma;
    } else if (last_sigma.item<float>() < old_sigma.item<float>()) {
      auto up = (old_sigma.pow(2) - last_sigma.pow(2)).pow(0.5);
      x = x + c.noise(x) * c.params.s_noise * up.to(x.device());
    }
    auto denoised = c.denoise(x, old_sigma);
    auto d = (x - denoised) / old_sigma.to(x.device());
    auto dt = (new_sigma - old_sigma).to(x.device());
    if (new_sigma.item<float>() == 0) {
      x = x + d * dt;
    } else {
      auto x_2 = x + d * dt;
      auto denoised_2 = c.denoise(x_2, new_sigma);
      auto d_2 = (x_2 - denoised_2) / new_sigma.to(x.device());
      x = x + (d + d_2) / 2 * dt;
    }
    last_sigma = new_sigma;
    c.step_done(step_id++);
  }
  return x;
}

} // namespace sdw::detail
