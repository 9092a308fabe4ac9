// DPM-Solver-Fast (k-diffusion `sample_dpm_fast`): fixed steps in t = −log σ with orders 3,…,3
// then 2/1 so that the model is called exactly n times. A1111 runs it from sigmas[0] down to
// sigmas[-2] (the last nonzero sigma) with n = len(sigmas) − 1 and its ancestral eta.
#include "runtime/errors.hpp"
#include "runtime/samplers_impl.hpp"

#include <ATen/ATen.h>

#include <cmath>

namespace sdw::detail {

namespace {

struct dpm_solver {
  run_context& c;

  static at::Tensor t_of(const at::Tensor& sigma) { return -sigma.log(); }
  static at::Tensor sigma_of(const at::Tensor& t) { return t.neg().exp(); }
  static at::Tensor dev(const at::Tensor& s, const at::Tensor& x) { return s.to(x.device()); }

  at::Tensor eps(const at::Tensor& x, const at::Tensor& t) {
    auto sigma = sigma_of(t);
    return (x - c.denoise(x, sigma)) / dev(sigma, x);
  }

  at::Tensor step1(const at::Tensor& x, const at::Tensor& t, const at::Tensor& t_next, const at::Tensor& e) {
    auto h = t_next - t;
    return x - dev(sigma_of(t_next) * h.expm1(), x) * e;
  }

  at::Tensor step2(const at::Tensor& x, const at::Tensor& t, const at::Tensor& t_next, const at::Tensor& e) {
    const double r1 = 1.0 / 2;
    auto h = t_next - t;
    auto s1 = t + h * r1;
    auto u1 = x - dev(sigma_of(s1) * (h * r1).expm1(), x) * e;
    auto e_r1 = eps(u1, s1);
    return x - dev(sigma_of(t_next) * h.expm1(), x) * e -
           dev(sigma_of(t_next) / (2 * r1) * h.expm1(), x) * (e_r1 - e);
  }

  at::Tensor step3(const at::Tensor& x, const at::Tensor& t, const at::Tensor& t_next, const at::Tensor& e) {
    const double r1 = 1.0 / 3, r2 = 2.0 / 3;
    auto h = t_next - t;
    auto s1 = t + h * r1;
    auto s2 = t + h * r2;
    auto u1 = x - dev(sigma_of(s1) * (h * r1).expm1(), x) * e;
    auto e_r1 = eps(u1, s1);
    auto u2 = x - dev(sigma_of(s2) * (h * r2).expm1(), x) * e -
              dev(sigma_of(s2) * (r2 / r1) * ((h * r2).expm1() / (h * r2) - 1), x) * (e_r1 - e);
    auto e_r2 = eps(u2, s2);
    return x - dev(sigma_of(t_next) * h.expm1(), x) * e -
           dev(sigma_of(t_next) / r2 * (h.expm1() / h - 1), x) * (e_r2 - e);
  }
};

} // namespace

at::Tensor sample_dpm_fast(run_context& c, at::Tensor x) {
  const int64_t len = c.sigmas.size(0);
  if (len < 3) throw error(errc::bad_request, "steps", "DPM fast needs at least 2 steps");
  const auto sigma_min = c.sigmas[len - 2], sigma_max = c.sigmas[0];
  if (!(sigma_min.item<float>() > 0) || !(sigma_max.item<float>() > 0))
    throw error(errc::bad_request, "sigma_min", "DPM fast needs positive sigmas");
  const int nfe = static_cast<int>(len - 1);
  const double eta = c.params.eta, s_noise = c.params.s_noise;
  dpm_solver solver{c};
  auto t_start = dpm_solver::t_of(sigma_max), t_end = dpm_solver::t_of(sigma_min);
  if (!(t_end.item<float>() > t_start.item<float>()) && eta != 0)
    throw error(errc::bad_request, "eta", "eta must be 0 for reverse sampling");

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
    auto t = ts[i], t_next = ts[i + 1];
    at::Tensor t_next_, su;
    if (eta != 0) {
      auto [sd, su0] = ancestral_step(dpm_solver::sigma_of(t), dpm_solver::sigma_of(t_next), eta);
      (void)su0;
      t_next_ = at::minimum(t_end, dpm_solver::t_of(sd));
      su = (dpm_solver::sigma_of(t_next).pow(2) - dpm_solver::sigma_of(t_next_).pow(2)).pow(0.5);
    } else {
      t_next_ = t_next;
      su = at::zeros({}, at::kFloat);
    }
    auto e = solver.eps(x, t);
    if (orders[i] == 1)
      x = solver.step1(x, t, t_next_, e);
    else if (orders[i] == 2)
      x = solver.step2(x, t, t_next_, e);
    else
      x = solver.step3(x, t, t_next_, e);
    x = x + dpm_solver::dev(su * s_noise, x) * c.noise(x);
    c.step_done(static_cast<int>(i));
  }
  return x;
}

} // namespace sdw::detail
