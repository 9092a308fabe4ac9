// DPM-Solver++ samplers of k-diffusion: 2M, 2S a, SDE, 2M SDE (midpoint / Heun), 3M SDE.
// The SDE samplers query the noise sampler at exactly the sigma tensors k-diffusion passes it
// (DPM++ SDE's exp(−(−log σ)) is not always σ), as the Brownian tree rounds them.
#include "runtime/engine/samplers_impl.hpp"

#include <ATen/ATen.h>

namespace sdw::detail {

namespace {

at::Tensor dev(const at::Tensor& scalar, const at::Tensor& x) { return scalar.to(x.device()); }
at::Tensor sigma_fn(const at::Tensor& t) { return t.neg().exp(); }
at::Tensor t_fn(const at::Tensor& sigma) { return sigma.log().neg(); }
bool is_zero(const at::Tensor& s) { return s.item<float>() == 0; }

at::Tensor euler_to_zero(const at::Tensor& x, const at::Tensor& sigma, const at::Tensor& sigma_next,
                         const at::Tensor& denoised) {
  auto d = (x - denoised) / dev(sigma, x);
  return x + d * dev(sigma_next - sigma, x);
}

} // namespace

at::Tensor sample_dpmpp_2m(run_context& c, at::Tensor x) {
  const int n = static_cast<int>(c.sigmas.size(0) - 1);
  at::Tensor old_denoised;
  for (int i = 0; i < n; ++i) {
    auto sigma = c.sigmas[i], sigma_next = c.sigmas[i + 1];
    auto denoised = c.denoise(x, sigma);
    auto t = t_fn(sigma), t_next = t_fn(sigma_next);
    auto h = t_next - t;
    auto ratio = dev(sigma_fn(t_next) / sigma_fn(t), x);
    if (!old_denoised.defined() || is_zero(sigma_next)) {
      x = ratio * x - dev((-h).expm1(), x) * denoised;
    } else {
      auto h_last = t - t_fn(c.sigmas[i - 1]);
      auto r = h_last / h;
      auto k = 1 / (2 * r);
      auto denoised_d = dev(1 + k, x) * denoised - dev(k, x) * old_denoised;
      x = ratio * x - dev((-h).expm1(), x) * denoised_d;
    }
    old_denoised = denoised;
    c.step_done(i);
  }
  return x;
}

at::Tensor sample_dpmpp_2s_ancestral(run_context& c, at::Tensor x) {
  const int n = static_cast<int>(c.sigmas.size(0) - 1);
  for (int i = 0; i < n; ++i) {
    auto sigma = c.sigmas[i], sigma_next = c.sigmas[i + 1];
    auto denoised = c.denoise(x, sigma);
    auto [sigma_down, sigma_up] = ancestral_step(sigma, sigma_next, c.params.eta);
    if (is_zero(sigma_down)) {
      x = euler_to_zero(x, sigma, sigma_down, denoised);
    } else {
      auto t = t_fn(sigma), t_next = t_fn(sigma_down);
      const double r = 0.5;
      auto h = t_next - t;
      auto s = t + h * r;
      auto x_2 = dev(sigma_fn(s) / sigma_fn(t), x) * x - dev((-h * r).expm1(), x) * denoised;
      auto denoised_2 = c.denoise(x_2, sigma_fn(s));
      x = dev(sigma_fn(t_next) / sigma_fn(t), x) * x - dev((-h).expm1(), x) * denoised_2;
    }
    if (sigma_next.item<float>() > 0) x = x + c.noise(x) * c.params.s_noise * dev(sigma_up, x);
    c.step_done(i);
  }
  return x;
}

at::Tensor sample_dpmpp_sde(run_context& c, at::Tensor x) {
  const int n = static_cast<int>(c.sigmas.size(0) - 1);
  const double r = 0.5, eta = c.params.eta, s_noise = c.params.s_noise;
  for (int i = 0; i < n; ++i) {
    auto sigma = c.sigmas[i], sigma_next = c.sigmas[i + 1];
    auto denoised = c.denoise(x, sigma);
    if (is_zero(sigma_next)) {
      x = euler_to_zero(x, sigma, sigma_next, denoised);
    } else {
      auto t = t_fn(sigma), t_next = t_fn(sigma_next);
      auto h = t_next - t;
      auto s = t + h * r;
      const double fac = 1 / (2 * r);

      auto [sd1, su1] = ancestral_step(sigma_fn(t), sigma_fn(s), eta);
      auto s_ = t_fn(sd1);
      auto x_2 = dev(sigma_fn(s_) / sigma_fn(t), x) * x - dev((t - s_).expm1(), x) * denoised;
      x_2 = x_2 + c.brownian(x, sigma_fn(t), sigma_fn(s)) * s_noise * dev(su1, x);
      auto denoised_2 = c.denoise(x_2, sigma_fn(s));

      auto [sd2, su2] = ancestral_step(sigma_fn(t), sigma_fn(t_next), eta);
      auto t_next_ = t_fn(sd2);
      auto denoised_d = denoised * (1 - fac) + denoised_2 * fac;
      x = dev(sigma_fn(t_next_) / sigma_fn(t), x) * x - dev((t - t_next_).expm1(), x) * denoised_d;
      x = x + c.brownian(x, sigma_fn(t), sigma_fn(t_next)) * s_noise * dev(su2, x);
    }
    c.step_done(i);
  }
  return x;
}

at::Tensor sample_dpmpp_2m_sde(run_context& c, at::Tensor x, bool heun) {
  const int n = static_cast<int>(c.sigmas.size(0) - 1);
  const double eta = c.params.eta;
  at::Tensor old_denoised, h_last, h;
  for (int i = 0; i < n; ++i) {
    auto sigma = c.sigmas[i], sigma_next = c.sigmas[i + 1];
    auto denoised = c.denoise(x, sigma);
    if (is_zero(sigma_next)) {
      x = denoised;
    } else {
      auto t = -sigma.log(), s = -sigma_next.log();
      h = s - t;
      auto eta_h = h * eta;
      x = dev(sigma_next / sigma * (-eta_h).exp(), x) * x + dev((-h - eta_h).expm1().neg(), x) * denoised;
      if (old_denoised.defined()) {
        auto r = h_last / h;
        auto phi = (-h - eta_h).expm1().neg();
        if (heun)
          x = x + dev((phi / (-h - eta_h) + 1) * (1 / r), x) * (denoised - old_denoised);
        else
          x = x + dev(phi * 0.5 * (1 / r), x) * (denoised - old_denoised);
      }
      if (eta != 0)
        x = x + c.brownian(x, sigma, sigma_next) * dev(sigma_next, x) * dev((-2 * eta_h).expm1().neg().sqrt(), x) *
                  c.params.s_noise;
    }
    old_denoised = denoised;
    h_last = h;
    c.step_done(i);
  }
  return x;
}

at::Tensor sample_dpmpp_3m_sde(run_context& c, at::Tensor x) {
  const int n = static_cast<int>(c.sigmas.size(0) - 1);
  const double eta = c.params.eta;
  at::Tensor denoised_1, denoised_2, h, h_1, h_2;
  for (int i = 0; i < n; ++i) {
    auto sigma = c.sigmas[i], sigma_next = c.sigmas[i + 1];
    auto denoised = c.denoise(x, sigma);
    if (is_zero(sigma_next)) {
      x = denoised;
    } else {
      auto t = -sigma.log(), s = -sigma_next.log();
      h = s - t;
      auto h_eta = h * (eta + 1);
      x = dev(at::exp(-h_eta), x) * x + dev((-h_eta).expm1().neg(), x) * denoised;
      if (h_2.defined()) {
        auto r0 = h_1 / h, r1 = h_2 / h;
        auto d1_0 = (denoised - denoised_1) / dev(r0, x);
        auto d1_1 = (denoised_1 - denoised_2) / dev(r1, x);
        auto d1 = d1_0 + (d1_0 - d1_1) * dev(r0, x) / dev(r0 + r1, x);
        auto d2 = (d1_0 - d1_1) / dev(r0 + r1, x);
        auto phi_2 = h_eta.neg().expm1() / h_eta + 1;
        auto phi_3 = phi_2 / h_eta - 0.5;
        x = x + dev(phi_2, x) * d1 - dev(phi_3, x) * d2;
      } else if (h_1.defined()) {
        auto r = h_1 / h;
        auto d = (denoised - denoised_1) / dev(r, x);
        auto phi_2 = h_eta.neg().expm1() / h_eta + 1;
        x = x + dev(phi_2, x) * d;
      }
      if (eta != 0)
        x = x + c.brownian(x, sigma, sigma_next) * dev(sigma_next, x) * dev((h * -2 * eta).expm1().neg().sqrt(), x) *
                  c.params.s_noise;
    }
    denoised_2 = denoised_1;
    denoised_1 = denoised;
    h_2 = h_1;
    h_1 = h;
    c.step_done(i);
  }
  return x;
}

} // namespace sdw::detail
