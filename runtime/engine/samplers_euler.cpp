// Karras-style samplers of k-diffusion: Euler, Euler a, Heun, DPM2, DPM2 a, LMS.
#include "runtime/engine/samplers_impl.hpp"

#include <ATen/ATen.h>

#include <array>
#include <cmath>
#include <deque>

namespace sdw::detail {

namespace {

at::Tensor to_d(const at::Tensor& x, const at::Tensor& sigma, const at::Tensor& denoised) {
  return (x - denoised) / sigma.to(x.device());
}

at::Tensor dev(const at::Tensor& scalar, const at::Tensor& x) { return scalar.to(x.device()); }

/// Karras' churn: the γ of step i (0 outside [s_tmin, s_tmax]).
double churn_gamma(const run_context& c, int i) {
  const int n = static_cast<int>(c.sigmas.size(0) - 1);
  const float s = c.sigmas[i].item<float>();
  const auto& p = c.params;
  if (static_cast<float>(p.s_tmin) <= s && s <= static_cast<float>(p.s_tmax))
    return std::min(p.s_churn / n, std::sqrt(2.0) - 1);
  return 0.0;
}

/// The churn prologue shared by Euler, Heun and DPM2. The noise is drawn on every step, used or not,
/// because the per-image generators must advance as in A1111.
at::Tensor churn(run_context& c, at::Tensor& x, int i) {
  const double gamma = churn_gamma(c, i);
  auto eps = c.noise(x) * c.params.s_noise;
  auto sigma = c.sigmas[i];
  auto sigma_hat = sigma * (gamma + 1);
  if (gamma > 0) x = x + eps * dev((sigma_hat.pow(2) - sigma.pow(2)).pow(0.5), x);
  return sigma_hat;
}

} // namespace

at::Tensor sample_euler(run_context& c, at::Tensor x) {
  const int n = static_cast<int>(c.sigmas.size(0) - 1);
  for (int i = 0; i < n; ++i) {
    auto sigma_hat = churn(c, x, i);
    auto denoised = c.denoise(x, sigma_hat);
    auto d = to_d(x, sigma_hat, denoised);
    auto dt = c.sigmas[i + 1] - sigma_hat;
    x = x + d * dev(dt, x);
    c.step_done(i);
  }
  return x;
}

at::Tensor sample_euler_ancestral(run_context& c, at::Tensor x) {
  const int n = static_cast<int>(c.sigmas.size(0) - 1);
  for (int i = 0; i < n; ++i) {
    auto sigma = c.sigmas[i], sigma_next = c.sigmas[i + 1];
    auto denoised = c.denoise(x, sigma);
    auto [sigma_down, sigma_up] = ancestral_step(sigma, sigma_next, c.params.eta);
    auto d = to_d(x, sigma, denoised);
    x = x + d * dev(sigma_down - sigma, x);
    if (sigma_next.item<float>() > 0) x = x + c.noise(x) * c.params.s_noise * dev(sigma_up, x);
    c.step_done(i);
  }
  return x;
}

at::Tensor sample_heun(run_context& c, at::Tensor x) {
  const int n = static_cast<int>(c.sigmas.size(0) - 1);
  for (int i = 0; i < n; ++i) {
    auto sigma_hat = churn(c, x, i);
    auto sigma_next = c.sigmas[i + 1];
    auto denoised = c.denoise(x, sigma_hat);
    auto d = to_d(x, sigma_hat, denoised);
    auto dt = dev(sigma_next - sigma_hat, x);
    if (sigma_next.item<float>() == 0) {
      x = x + d * dt;
    } else {
      auto x_2 = x + d * dt;
      auto denoised_2 = c.denoise(x_2, sigma_next);
      auto d_2 = to_d(x_2, sigma_next, denoised_2);
      auto d_prime = (d + d_2) / 2;
      x = x + d_prime * dt;
    }
    c.step_done(i);
  }
  return x;
}

at::Tensor sample_dpm_2(run_context& c, at::Tensor x) {
  const int n = static_cast<int>(c.sigmas.size(0) - 1);
  for (int i = 0; i < n; ++i) {
    auto sigma_hat = churn(c, x, i);
    auto sigma_next = c.sigmas[i + 1];
    auto denoised = c.denoise(x, sigma_hat);
    auto d = to_d(x, sigma_hat, denoised);
    if (sigma_next.item<float>() == 0) {
      x = x + d * dev(sigma_next - sigma_hat, x);
    } else {
      auto sigma_mid = sigma_hat.log().lerp(sigma_next.log(), 0.5).exp();
      auto dt_1 = sigma_mid - sigma_hat;
      auto dt_2 = sigma_next - sigma_hat;
      auto x_2 = x + d * dev(dt_1, x);
      auto denoised_2 = c.denoise(x_2, sigma_mid);
      auto d_2 = to_d(x_2, sigma_mid, denoised_2);
      x = x + d_2 * dev(dt_2, x);
    }
    c.step_done(i);
  }
  return x;
}

at::Tensor sample_dpm_2_ancestral(run_context& c, at::Tensor x) {
  const int n = static_cast<int>(c.sigmas.size(0) - 1);
  for (int i = 0; i < n; ++i) {
    auto sigma = c.sigmas[i], sigma_next = c.sigmas[i + 1];
    auto denoised = c.denoise(x, sigma);
    auto [sigma_down, sigma_up] = ancestral_step(sigma, sigma_next, c.params.eta);
    auto d = to_d(x, sigma, denoised);
    if (sigma_down.item<float>() == 0) {
      x = x + d * dev(sigma_down - sigma, x);
    } else {
      auto sigma_mid = sigma.log().lerp(sigma_down.log(), 0.5).exp();
      auto dt_1 = sigma_mid - sigma;
      auto dt_2 = sigma_down - sigma;
      auto x_2 = x + d * dev(dt_1, x);
      auto denoised_2 = c.denoise(x_2, sigma_mid);
      auto d_2 = to_d(x_2, sigma_mid, denoised_2);
      x = x + d_2 * dev(dt_2, x);
      x = x + c.noise(x) * c.params.s_noise * dev(sigma_up, x);
    }
    c.step_done(i);
  }
  return x;
}

namespace {

/// ∫_{t[i]}^{t[i+1]} of the Lagrange basis polynomial j over the nodes t[i], t[i-1], …; the
/// polynomial has degree < 4, so 4-point Gauss–Legendre is exact.
double lms_coeff(int order, const std::vector<float>& t, int i, int j) {
  static const std::array<double, 4> nodes = {-0.8611363115940526, -0.3399810435848563,
                                              0.3399810435848563, 0.8611363115940526};
  static const std::array<double, 4> weights = {0.3478548451374538, 0.6521451548625461,
                                                0.6521451548625461, 0.3478548451374538};
  auto fn = [&](double tau) {
    double prod = 1.0;
    for (int k = 0; k < order; ++k) {
      if (k == j) continue;
      // The denominator is a difference of two float32 values, rounded to float32 as numpy does.
      const float denom = t[i - j] - t[i - k];
      prod *= (tau - t[i - k]) / denom;
    }
    return prod;
  };
  const double a = t[i], b = t[i + 1];
  const double half = (b - a) / 2, mid = (a + b) / 2;
  double sum = 0;
  for (size_t q = 0; q < nodes.size(); ++q) sum += weights[q] * fn(mid + half * nodes[q]);
  return sum * half;
}

} // namespace

at::Tensor sample_lms(run_context& c, at::Tensor x) {
  constexpr int order = 4;
  const int n = static_cast<int>(c.sigmas.size(0) - 1);
  std::vector<float> t(c.sigmas.data_ptr<float>(), c.sigmas.data_ptr<float>() + c.sigmas.size(0));
  std::deque<at::Tensor> ds;
  for (int i = 0; i < n; ++i) {
    auto sigma = c.sigmas[i];
    auto denoised = c.denoise(x, sigma);
    ds.push_back(to_d(x, sigma, denoised));
    if (static_cast<int>(ds.size()) > order) ds.pop_front();
    const int cur_order = std::min(i + 1, order);
    at::Tensor acc;
    for (int j = 0; j < cur_order; ++j) {
      auto term = ds[ds.size() - 1 - j] * lms_coeff(cur_order, t, i, j);
      acc = acc.defined() ? acc + term : term;
    }
    x = x + acc;
    c.step_done(i);
  }
  return x;
}

} // namespace sdw::detail
