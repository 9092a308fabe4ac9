// UniPC as A1111 runs it (`sd_samplers_timesteps_impl.unipc`): multistep, data prediction, B(h)
// variants, on the discrete VP schedule with t ∈ [1/N, 1] and model time (t − 1/N)·1000.
#include "runtime/base/errors.hpp"
#include "runtime/engine/samplers_impl.hpp"

#include <ATen/ATen.h>

namespace sdw::detail {

namespace {

/// The piecewise-linear log α(t) of the discrete schedule, extrapolated beyond its ends.
class vp_schedule {
public:
  explicit vp_schedule(const discrete_schedule& s) {
    log_alpha_ = 0.5 * at::log(s.alphas_cumprod());
    total_n_ = log_alpha_.size(0);
    t_array_ = at::linspace(0., 1., total_n_ + 1, at::TensorOptions().dtype(at::kFloat)).slice(0, 1);
  }
  int64_t total_n() const { return total_n_; }

  at::Tensor log_mean_coeff(const at::Tensor& t) const { return interpolate(t, t_array_, log_alpha_); }
  at::Tensor alpha(const at::Tensor& t) const { return at::exp(log_mean_coeff(t)); }
  at::Tensor std_dev(const at::Tensor& t) const { return at::sqrt(1. - at::exp(2. * log_mean_coeff(t))); }
  at::Tensor lambda(const at::Tensor& t) const {
    auto lmc = log_mean_coeff(t);
    auto log_std = 0.5 * at::log(1. - at::exp(2. * lmc));
    return lmc - log_std;
  }
  at::Tensor inverse_lambda(const at::Tensor& lamb) const {
    auto log_alpha = -0.5 * at::logaddexp(at::zeros({1}, lamb.options()), -2. * lamb);
    return interpolate(log_alpha, log_alpha_.flip(0), t_array_.flip(0));
  }

private:
  /// y(x) on the polyline (xp, yp) with xp ascending; the segment is picked as a stable sort of x
  /// among the keypoints would (x equal to a keypoint uses the segment ending there).
  static at::Tensor interpolate(const at::Tensor& x_in, const at::Tensor& xp, const at::Tensor& yp) {
    auto x = x_in.reshape({-1});
    const int64_t k = xp.size(0);
    // A1111's interpolate_fn sorts x among the keypoints in one tensor, which promotes fp16 keypoints
    // (use_downcasted_alpha_bar) to x's dtype; the y values keep theirs.
    auto xpd = xp.to(x.device(), x.scalar_type()), ypd = yp.to(x.device());
    auto below = xpd.unsqueeze(0).lt(x.unsqueeze(1)).sum(1);
    auto seg = (below - 1).clamp(0, k - 2);
    auto start_x = xpd.index_select(0, seg), end_x = xpd.index_select(0, seg + 1);
    auto start_y = ypd.index_select(0, seg), end_y = ypd.index_select(0, seg + 1);
    return start_y + (x - start_x) * (end_y - start_y) / (end_x - start_x);
  }

  at::Tensor log_alpha_, t_array_;
  int64_t total_n_ = 0;
};

at::Tensor expand4(const at::Tensor& v) { return v.view({-1, 1, 1, 1}); }

struct unipc_solver {
  run_context& c;
  const vp_schedule& ns;
  bool bh2;

  at::Tensor data_prediction(const at::Tensor& x, const at::Tensor& t) {
    auto t_input = (t - 1. / static_cast<double>(ns.total_n())) * 1000.;
    auto noise = c.model.eps(x, t_input);
    return (x - expand4(ns.std_dev(t)) * noise) / expand4(ns.alpha(t));
  }

  std::pair<at::Tensor, at::Tensor> update(const at::Tensor& x, const std::vector<at::Tensor>& model_prev,
                                           const std::vector<at::Tensor>& t_prev, const at::Tensor& t, int order,
                                           bool use_corrector) {
    const auto& t_prev_0 = t_prev.back();
    auto lambda_prev_0 = ns.lambda(t_prev_0);
    auto lambda_t = ns.lambda(t);
    const auto& model_prev_0 = model_prev.back();
    auto sigma_prev_0 = ns.std_dev(t_prev_0), sigma_t = ns.std_dev(t);
    auto alpha_t = at::exp(ns.log_mean_coeff(t));
    auto h = lambda_t - lambda_prev_0;

    std::vector<at::Tensor> rks, d1s;
    for (int i = 1; i < order; ++i) {
      const auto& t_prev_i = t_prev[t_prev.size() - 1 - i];
      const auto& model_prev_i = model_prev[model_prev.size() - 1 - i];
      // Upstream turns these ratios into Python floats; they live on the CPU here too.
      auto rk = ((ns.lambda(t_prev_i) - lambda_prev_0) / h)[0].cpu();
      rks.push_back(rk);
      d1s.push_back((model_prev_i - model_prev_0) / rk.to(x.device()));
    }
    rks.push_back(at::ones({}, at::kFloat));
    auto rk_vec = at::stack(rks).to(at::kFloat);

    auto hh = (-h[0]).cpu();
    auto h_phi_1 = at::expm1(hh);
    auto h_phi_k = h_phi_1 / hh - 1;
    auto b_h = bh2 ? at::expm1(hh) : hh;
    std::vector<at::Tensor> r_rows, b_vals;
    int64_t factorial_i = 1;
    for (int i = 1; i <= order; ++i) {
      r_rows.push_back(at::pow(rk_vec, i - 1));
      b_vals.push_back(h_phi_k * factorial_i / b_h);
      factorial_i *= (i + 1);
      h_phi_k = h_phi_k / hh - 1. / static_cast<double>(factorial_i);
    }
    auto r_mat = at::stack(r_rows);
    auto b_vec = at::stack(b_vals).to(at::kFloat);

    at::Tensor d1_stack, rhos_p, rhos_c;
    if (!d1s.empty()) {
      d1_stack = at::stack(d1s, 1);
      if (order == 2)
        rhos_p = at::full({1}, 0.5, at::kFloat);
      else
        rhos_p = at::linalg_solve(r_mat.slice(0, 0, -1).slice(1, 0, -1), b_vec.slice(0, 0, -1));
    }
    if (use_corrector) rhos_c = order == 1 ? at::full({1}, 0.5, at::kFloat) : at::linalg_solve(r_mat, b_vec);

    auto x_t_ = expand4(sigma_t / sigma_prev_0) * x - expand4(alpha_t * h_phi_1.to(x.device())) * model_prev_0;
    auto scale = expand4(alpha_t * b_h.to(x.device()));
    at::Tensor x_t = d1_stack.defined()
                         ? x_t_ - scale * at::einsum("k,bkchw->bchw", {rhos_p.to(x.device()), d1_stack})
                         : x_t_ - scale * 0;
    at::Tensor model_t;
    if (use_corrector) {
      model_t = data_prediction(x_t, t);
      auto d1_t = model_t - model_prev_0;
      auto rc = rhos_c.to(x.device());
      auto last = rc[-1] * d1_t;
      auto inner = d1_stack.defined() ? at::einsum("k,bkchw->bchw", {rc.slice(0, 0, -1), d1_stack}) + last : last;
      x_t = x_t_ - scale * inner;
    }
    return {x_t, model_t};
  }
};

} // namespace

at::Tensor sample_unipc(run_context& c, const discrete_schedule& s, const at::Tensor& timesteps, at::Tensor x,
                        std::optional<double> t_start) {
  const auto& p = c.params;
  if (p.uni_pc_variant != "bh1" && p.uni_pc_variant != "bh2")
    throw error(errc::unsupported, "uni_pc_variant", "only bh1 and bh2 are implemented");
  const int steps = static_cast<int>(timesteps.size(0));
  const int order = p.uni_pc_order;
  if (order < 1) throw error(errc::bad_request, "uni_pc_order", "must be at least 1");
  if (steps < order) throw error(errc::bad_request, "steps", "UniPC order must be < sampling steps");

  vp_schedule ns(s);
  const double t_0 = 1. / static_cast<double>(ns.total_n()), t_T = t_start.value_or(1.);
  auto f32 = at::TensorOptions().dtype(at::kFloat);
  at::Tensor ts;
  if (p.uni_pc_skip_type == "time_uniform") {
    ts = at::linspace(t_T, t_0, steps + 1, f32);
  } else if (p.uni_pc_skip_type == "time_quadratic") {
    // An img2img start time is a float32 tensor upstream, so its root is taken in float32.
    const double root_T = t_start ? static_cast<double>(std::sqrt(static_cast<float>(t_T))) : std::pow(t_T, 0.5);
    ts = at::linspace(root_T, std::pow(t_0, 0.5), steps + 1, f32).pow(2);
  } else if (p.uni_pc_skip_type == "logSNR") {
    const double lambda_T = ns.lambda(at::full({}, t_T, f32)).item<double>();
    const double lambda_0 = ns.lambda(at::full({}, t_0, f32)).item<double>();
    ts = ns.inverse_lambda(at::linspace(lambda_T, lambda_0, steps + 1, f32)).reshape({-1});
  } else {
    throw error(errc::bad_request, "uni_pc_skip_type", "expected time_uniform, time_quadratic or logSNR");
  }
  ts = ts.to(x.device());

  unipc_solver solver{c, ns, p.uni_pc_variant == "bh2"};
  c.total_steps = steps;
  const int64_t batch = x.size(0);
  int index = 0;
  auto vec_t = ts[0].expand({batch});
  std::vector<at::Tensor> model_prev = {solver.data_prediction(x, vec_t)};
  std::vector<at::Tensor> t_prev = {vec_t};
  for (int init_order = 1; init_order < order; ++init_order) {
    vec_t = ts[init_order].expand({batch});
    auto [x_new, model_x] = solver.update(x, model_prev, t_prev, vec_t, init_order, true);
    x = x_new;
    if (!model_x.defined()) model_x = solver.data_prediction(x, vec_t);
    c.step_done(index++);
    model_prev.push_back(model_x);
    t_prev.push_back(vec_t);
  }
  for (int step = order; step <= steps; ++step) {
    vec_t = ts[step].expand({batch});
    const int step_order = p.uni_pc_lower_order_final ? std::min(order, steps + 1 - step) : order;
    auto [x_new, model_x] = solver.update(x, model_prev, t_prev, vec_t, step_order, step != steps);
    x = x_new;
    c.step_done(index++);
    for (int i = 0; i + 1 < order; ++i) {
      t_prev[i] = t_prev[i + 1];
      model_prev[i] = model_prev[i + 1];
    }
    t_prev.back() = vec_t;
    if (step < steps) {
      if (!model_x.defined()) model_x = solver.data_prediction(x, vec_t);
      model_prev.back() = model_x;
    }
  }
  return x;
}

} // namespace sdw::detail
