// A1111's own DDIM and PLMS loops on integer timesteps (eps prediction).
#include "runtime/engine/samplers_impl.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <deque>

namespace sdw::detail {

namespace {

/// ᾱ at the timesteps and at the previous timesteps (ᾱ[0] for the first), √(1 − ᾱ) and 1 / (1 − ᾱ)
/// computed in ᾱ's dtype (fp16 under use_downcasted_alpha_bar), each as Python's `.item()` reads it.
struct alpha_table {
  std::vector<double> alphas, sqrt_one_minus, recip_one_minus, alphas_prev;
};

alpha_table make_table(const discrete_schedule& s, const at::Tensor& timesteps) {
  auto ac = s.alphas_cumprod();
  auto ts = timesteps.to(at::kLong).contiguous();
  auto prev_ts = at::cat({at::zeros({1}, ts.options()), ts.slice(0, 0, ts.size(0) - 1)});
  auto alphas = ac.index_select(0, ts);
  // A1111's σ_t divides a float64 array by (1 − ᾱ), which torch does as a reciprocal in ᾱ's dtype.
  const auto as_doubles = [](const at::Tensor& v) {
    const auto d = v.to(at::kDouble).contiguous();
    return std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
  };
  alpha_table t;
  t.alphas = as_doubles(alphas);
  t.sqrt_one_minus = as_doubles(at::sqrt(1 - alphas));
  t.recip_one_minus = as_doubles((1 - alphas).reciprocal());
  t.alphas_prev = as_doubles(ac.index_select(0, prev_ts));
  return t;
}

/// A per-image scalar shaped [B,1,1,1] in x's dtype, as `value * x.new_ones(B,1,1,1)`.
at::Tensor per_image(double value, const at::Tensor& x) {
  return at::ones({x.size(0), 1, 1, 1}, x.options()) * value;
}

at::Tensor timestep_batch(int64_t t, const at::Tensor& x) {
  return at::ones({x.size(0)}, x.options()) * static_cast<double>(t);
}

} // namespace

at::Tensor sample_ddim(run_context& c, const discrete_schedule& s, const at::Tensor& timesteps, at::Tensor x) {
  const auto tab = make_table(s, timesteps);
  const auto ts = timesteps.to(at::kLong).contiguous();
  const int64_t* tp = ts.data_ptr<int64_t>();
  const int64_t len = ts.size(0);
  const double eta = c.params.eta;
  for (int64_t i = 0; i < len - 1; ++i) {
    const int64_t index = len - 1 - i;
    auto e_t = c.model.eps(x, timestep_batch(tp[index], x));
    // σ_t as A1111 computes it: the reciprocal from the table, the rest in float64.
    const double a = tab.alphas[index], ap = tab.alphas_prev[index];
    const double sigma_val = eta * std::sqrt(tab.recip_one_minus[index] * (1 - ap) * (1 - a / ap));
    auto a_t = per_image(a, x);
    auto a_prev = per_image(ap, x);
    auto sigma_t = per_image(sigma_val, x);
    auto sqrt_one_minus_at = per_image(tab.sqrt_one_minus[index], x);
    auto pred_x0 = (x - sqrt_one_minus_at * e_t) / a_t.sqrt();
    auto dir_xt = (1. - a_prev - sigma_t.pow(2)).sqrt() * e_t;
    auto noise = sigma_t * c.noise(x);
    x = a_prev.sqrt() * pred_x0 + dir_xt + noise;
    c.step_done(static_cast<int>(i));
  }
  return x;
}

at::Tensor sample_plms(run_context& c, const discrete_schedule& s, const at::Tensor& timesteps, at::Tensor x) {
  const auto tab = make_table(s, timesteps);
  const auto ts = timesteps.to(at::kLong).contiguous();
  const int64_t* tp = ts.data_ptr<int64_t>();
  const int64_t len = ts.size(0);
  std::deque<at::Tensor> old_eps;
  auto x_prev_of = [&](const at::Tensor& e_t, int64_t index) {
    auto a_t = per_image(tab.alphas[index], x);
    auto a_prev = per_image(tab.alphas_prev[index], x);
    auto sqrt_one_minus_at = per_image(tab.sqrt_one_minus[index], x);
    auto pred_x0 = (x - sqrt_one_minus_at * e_t) / a_t.sqrt();
    auto dir_xt = (1. - a_prev).sqrt() * e_t;
    return a_prev.sqrt() * pred_x0 + dir_xt;
  };
  for (int64_t i = 0; i < len - 1; ++i) {
    const int64_t index = len - 1 - i;
    const int64_t t_next = tp[std::max<int64_t>(index - 1, 0)];
    auto e_t = c.model.eps(x, timestep_batch(tp[index], x));
    at::Tensor e_t_prime;
    if (old_eps.empty()) {
      // Pseudo improved Euler for the first step.
      auto x_prev = x_prev_of(e_t, index);
      auto e_t_next = c.model.eps(x_prev, timestep_batch(t_next, x));
      e_t_prime = (e_t + e_t_next) / 2;
    } else if (old_eps.size() == 1) {
      e_t_prime = (3 * e_t - old_eps.back()) / 2;
    } else if (old_eps.size() == 2) {
      e_t_prime = (23 * e_t - 16 * old_eps.back() + 5 * old_eps[old_eps.size() - 2]) / 12;
    } else {
      const auto k = old_eps.size();
      e_t_prime = (55 * e_t - 59 * old_eps[k - 1] + 37 * old_eps[k - 2] - 9 * old_eps[k - 3]) / 24;
    }
    auto x_prev = x_prev_of(e_t_prime, index);
    old_eps.push_back(e_t);
    if (old_eps.size() >= 4) old_eps.pop_front();
    x = x_prev;
    c.step_done(static_cast<int>(i));
  }
  return x;
}

} // namespace sdw::detail
