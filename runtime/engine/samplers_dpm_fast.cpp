// DPM-Solver (k-diffusion `sample_dpm_fast` and `sample_dpm_adaptive`) in t = −log σ. A1111 runs
// both over the model's σ range (img2img: sigmas[0] down to sigmas[-2]) with its ancestral eta;
// fast takes n = len(sigmas) − 1 model calls, adaptive picks its steps with a PID controller.
#include "runtime/base/errors.hpp"
#include "runtime/engine/samplers_impl.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <map>
#include <string>

namespace sdw::detail {

namespace {

struct dpm_solver {
  run_context& c;
  std::map<std::string, at::Tensor> cache; ///< model evaluations of the current step, by role

  static at::Tensor t_of(const at::Tensor& sigma) { return -sigma.log(); }
  static at::Tensor sigma_of(const at::Tensor& t) { return t.neg().exp(); }
  static at::Tensor dev(const at::Tensor& s, const at::Tensor& x) { return s.to(x.device()); }

  at::Tensor eps(const std::string& key, const at::Tensor& x, const at::Tensor& t) {
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
    auto sigma = sigma_of(t);
    auto e = (x - c.denoise(x, sigma)) / dev(sigma, x);
    cache.emplace(key, e);
    return e;
  }

  at::Tensor step1(const at::Tensor& x, const at::Tensor& t, const at::Tensor& t_next) {
    auto h = t_next - t;
    auto e = eps("eps", x, t);
    return x - dev(sigma_of(t_next) * h.expm1(), x) * e;
  }

  at::Tensor step2(const at::Tensor& x, const at::Tensor& t, const at::Tensor& t_next, double r1 = 1.0 / 2) {
    auto h = t_next - t;
    auto e = eps("eps", x, t);
    auto s1 = t + h * r1;
    auto u1 = x - dev(sigma_of(s1) * (h * r1).expm1(), x) * e;
    auto e_r1 = eps("eps_r1", u1, s1);
    return x - dev(sigma_of(t_next) * h.expm1(), x) * e -
           dev(sigma_of(t_next) / (2 * r1) * h.expm1(), x) * (e_r1 - e);
  }

  at::Tensor step3(const at::Tensor& x, const at::Tensor& t, const at::Tensor& t_next) {
    const double r1 = 1.0 / 3, r2 = 2.0 / 3;
    auto h = t_next - t;
    auto e = eps("eps", x, t);
    auto s1 = t + h * r1;
    auto s2 = t + h * r2;
    auto u1 = x - dev(sigma_of(s1) * (h * r1).expm1(), x) * e;
    auto e_r1 = eps("eps_r1", u1, s1);
    auto u2 = x - dev(sigma_of(s2) * (h * r2).expm1(), x) * e -
              dev(sigma_of(s2) * (r2 / r1) * ((h * r2).expm1() / (h * r2) - 1), x) * (e_r1 - e);
    auto e_r2 = eps("eps_r2", u2, s2);
    return x - dev(sigma_of(t_next) * h.expm1(), x) * e -
           dev(sigma_of(t_next) / r2 * (h.expm1() / h - 1), x) * (e_r2 - e);
  }
};

/// σ range and t range of a DPM-Solver run as A1111 sets it up.
std::pair<at::Tensor, at::Tensor> t_range(const run_context& c, const char* who) {
  const int64_t len = c.sigmas.size(0);
  if (len < 3) throw error(errc::bad_request, "steps", std::string(who) + " needs at least 2 steps");
  auto sigma_min = c.sigmas[len - 2], sigma_max = c.sigmas[0];
  if (c.dpm_sigma_range) {
    sigma_min = at::full({}, c.dpm_sigma_range->first, at::kFloat);
    sigma_max = at::full({}, c.dpm_sigma_range->second, at::kFloat);
  }
  if (!(sigma_min.item<float>() > 0) || !(sigma_max.item<float>() > 0))
    throw error(errc::bad_request, "sigma_min", std::string(who) + " needs positive sigmas");
  auto t_start = dpm_solver::t_of(sigma_max), t_end = dpm_solver::t_of(sigma_min);
  if (!(t_end.item<float>() > t_start.item<float>()) && c.params.eta != 0)
    throw error(errc::bad_request, "eta", "eta must be 0 for reverse sampling");
  return {t_start, t_end};
}

/// The ancestral split in t: where to step deterministically and how much noise to add after.
std::pair<at::Tensor, at::Tensor> ancestral_t(const at::Tensor& s, const at::Tensor& t, const at::Tensor& t_end,
                                              double eta) {
  if (eta == 0) return {t, at::zeros({}, at::kFloat)};
  auto sd = ancestral_step(dpm_solver::sigma_of(s), dpm_solver::sigma_of(t), eta).first;
  auto t_ = at::minimum(t_end, dpm_solver::t_of(sd));
  auto su = (dpm_solver::sigma_of(t).pow(2) - dpm_solver::sigma_of(t_).pow(2)).pow(0.5);
  return {t_, su};
}

} // namespace

at::Tensor sample_dpm_fast(run_context& c, at::Tensor x) {
  auto [t_start, t_end] = t_range(c, "DPM fast");
  const int nfe = static_cast<int>(c.sigmas.size(0) - 1);
  const double eta = c.params.eta, s_noise = c.params.s_noise;
  dpm_solver solver{c, {}};
  const int m = nfe / 3 + 1;
  auto ts = at::linspace(t_start.item<double>(), t_end.item<double>(), m + 1, at::TensorOptions().dtype(at::kFloat));
  std::vector<int> orders;
  if (nfe % 3 == 0) {
    orders.assign(std::max(m - 2, 0), 3);
    orders.push_back(2);
    orders.push_back(1);
  } else {
    orders.assign(m - 1, 3);
    orders.push_back(nfe % 3);
  }
  c.total_steps = static_cast<int>(orders.size());
  for (size_t i = 0; i < orders.size(); ++i) {
    solver.cache.clear();
    auto t = ts[i], t_next = ts[i + 1];
    auto [t_next_, su] = ancestral_t(t, t_next, t_end, eta);
    if (orders[i] == 1)
      x = solver.step1(x, t, t_next_);
    else if (orders[i] == 2)
      x = solver.step2(x, t, t_next_);
    else
      x = solver.step3(x, t, t_next_);
    x = x + dpm_solver::dev(su * s_noise, x) * c.noise(x);
    c.step_done(static_cast<int>(i));
  }
  return x;
}

at::Tensor sample_dpm_adaptive(run_context& c, at::Tensor x) {
  // k-diffusion's defaults; A1111 passes none of them.
  const int order = 3;
  const double rtol_v = 0.05, atol_v = 0.0078, h_init = 0.05, accept_safety = 0.81, pid_eps = 1e-8;
  auto [t_start, t_end] = t_range(c, "DPM adaptive");
  const double eta = c.params.eta, s_noise = c.params.s_noise;
  const bool forward = t_end.item<float>() > t_start.item<float>();
  auto atol = at::full({}, atol_v, at::kFloat), rtol = at::full({}, rtol_v, at::kFloat);
  // The PID controller with pcoeff = dcoeff = 0 and icoeff = 1 reduces to factor = (1/err)^(1/order).
  const double b1 = 1.0 / (eta != 0 ? 1.5 : order);
  double h = std::abs(h_init) * (forward ? 1 : -1);
  dpm_solver solver{c, {}};
  auto s = t_start;
  auto x_prev = x;
  const double numel_root = std::sqrt(static_cast<double>(x.numel()));
  int steps = 0;
  auto unfinished = [&] {
    return forward ? s.item<float>() < (t_end - 1e-5).item<float>() : s.item<float>() > (t_end + 1e-5).item<float>();
  };
  while (unfinished()) {
    if (++steps > 100000) throw error(errc::internal, "sampler", "DPM adaptive did not converge");
    solver.cache.clear();
    auto t = forward ? at::minimum(t_end, s + h) : at::maximum(t_end, s + h);
    auto [t_, su] = ancestral_t(s, t, t_end, eta);
    auto x_low = solver.step2(x, s, t_, 1.0 / 3);
    auto x_high = solver.step3(x, s, t_);
    auto delta = at::maximum(atol.to(x.device()), rtol.to(x.device()) * at::maximum(x_low.abs(), x_prev.abs()));
    auto err = at::linalg_vector_norm((x_low - x_high) / delta, 2) / numel_root;
    const double inv_error = 1 / (err.item<double>() + pid_eps);
    const double factor = 1 + std::atan(std::pow(inv_error, b1) - 1);
    const bool accept = factor >= accept_safety;
    h *= factor;
    if (accept) {
      x_prev = x_low;
      x = x_high + dpm_solver::dev(su * s_noise, x) * c.noise(x);
      s = t;
    }
    c.step_done(steps - 1);
  }
  return x;
}

} // namespace sdw::detail
