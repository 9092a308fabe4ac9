#include "runtime/engine/cfg_denoiser.hpp"

#include "runtime/engine/noise_schedule.hpp"
#include "runtime/engine/unet.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

namespace sdw {

cfg_denoiser::cfg_denoiser(const sdw::unet& model, const discrete_schedule& schedule, prediction parameterization,
                           std::vector<multi_cond> conds, std::vector<cond_schedule> unconds,
                           std::vector<double> cfg_scales, bool batch_cond_uncond, double s_min_uncond)
  : unet_(&model), schedule_(&schedule), parameterization_(parameterization), conds_(std::move(conds)), unconds_(std::move(unconds)),
    cfg_scales_(std::move(cfg_scales)), batch_cond_uncond_(batch_cond_uncond), s_min_uncond_(s_min_uncond) {}

template <class F>
at::Tensor cfg_denoiser::guided(const at::Tensor& x, const at::Tensor& s, F&& model_out) {
  c10::InferenceMode guard;
  auto pos = multi_cond_batch_at(conds_, step_);
  auto uncond = cond_batch_at(unconds_, step_);
  padded_ = false;
  if (padding_ != cond_padding::none && pos.tensor.size(1) != uncond.size(1)) {
    pad(pos.tensor, uncond);
    padded_ = true;
  }
  // SDXL's vector conditioning goes wherever its crossattn rows go (A1111's dict conds are
  // concatenated and sliced key by key).
  const at::Tensor uncond_y = vector_batch_at(unconds_, step_);
  const at::Tensor y_in = pos.y.defined() ? at::cat({pos.y, uncond_y.to(pos.y.scalar_type())}) : at::Tensor();
  const auto y_rows = [&y_in](int64_t a, int64_t n) { return y_in.defined() ? y_in.narrow(0, a, n) : y_in; };
  const int64_t batch = x.size(0);

  std::vector<at::Tensor> xs, ss, ics;
  for (int64_t i = 0; i < batch; ++i) {
    for (size_t j = 0; j < pos.rows[i].size(); ++j) {
      xs.push_back(x[i]);
      ss.push_back(s[i]);
      if (image_cond_.defined()) ics.push_back(image_cond_[i]);
    }
  }
  auto x_in = at::cat({at::stack(xs), x});
  auto s_in = at::cat({at::stack(ss), s});
  // The uncond rows see the same image conditioning as the cond rows (A1111's image_uncond).
  const at::Tensor ic_in = image_cond_.defined() ? at::cat({at::stack(ics), image_cond_}) : at::Tensor();
  const auto ic_rows = [&ic_in](int64_t a, int64_t n) { return ic_in.defined() ? ic_in.narrow(0, a, n) : ic_in; };
  const int64_t n_cond = pos.tensor.size(0);

  // NGMS: on odd steps below s_min_uncond the uncond pass is skipped and the first cond row of
  // each image stands in for it, so guidance is off for that step.
  const bool skip_uncond = (step_ % 2 == 1) && s_min_uncond_ > 0 && s[0].item<double>() < s_min_uncond_;
  at::Tensor out;
  if (skip_uncond) {
    out = model_out(x_in.narrow(0, 0, n_cond), s_in.narrow(0, 0, n_cond), pos.tensor, y_rows(0, n_cond),
                    ic_rows(0, n_cond));
    std::vector<at::Tensor> fake;
    for (int64_t i = 0; i < batch; ++i) {
      fake.push_back(out.narrow(0, pos.rows[i].front().first, 1));
    }
    out = at::cat({out, at::cat(fake)});
  } else if (pos.tensor.size(1) == uncond.size(1)) {
    auto cond_in = at::cat({pos.tensor, uncond.to(pos.tensor.scalar_type())});
    if (batch_cond_uncond_) {
      out = model_out(x_in, s_in, cond_in, y_in, ic_in);
    } else {
      std::vector<at::Tensor> parts;
      for (int64_t a = 0; a < x_in.size(0); a += batch) {
        const int64_t n = std::min(batch, x_in.size(0) - a);
        parts.push_back(model_out(x_in.narrow(0, a, n), s_in.narrow(0, a, n), cond_in.narrow(0, a, n), y_rows(a, n),
                                  ic_rows(a, n)));
      }
      out = at::cat(parts);
    }
  } else {
    // Different token lengths cannot share a call: cond rows, then uncond rows.
    std::vector<at::Tensor> parts;
    const int64_t step = batch_cond_uncond_ ? batch * 2 : batch;
    for (int64_t a = 0; a < n_cond; a += step) {
      const int64_t n = std::min(step, n_cond - a);
      parts.push_back(model_out(x_in.narrow(0, a, n), s_in.narrow(0, a, n), pos.tensor.narrow(0, a, n), y_rows(a, n),
                                ic_rows(a, n)));
    }
    parts.push_back(model_out(x_in.narrow(0, n_cond, batch), s_in.narrow(0, n_cond, batch), uncond,
                              y_rows(n_cond, batch), ic_rows(n_cond, batch)));
    out = at::cat(parts);
  }

  auto denoised_uncond = out.narrow(0, n_cond, batch);
  auto denoised = denoised_uncond.clone();
  for (int64_t i = 0; i < batch; ++i) {
    const double scale = cfg_scales_.size() == 1 ? cfg_scales_.front() : cfg_scales_.at(static_cast<size_t>(i));
    for (const auto& [row, weight] : pos.rows[i]) {
      denoised[i] += (out[row] - denoised_uncond[i]) * (weight * (skip_uncond ? 1.0 : scale));
    }
  }
  ++step_;
  return denoised;
}

void cfg_denoiser::set_cond_padding(cond_padding mode, at::Tensor empty) {
  padding_ = mode;
  empty_cond_ = std::move(empty);
}

void cfg_denoiser::pad(at::Tensor& cond, at::Tensor& uncond) const {
  const int64_t c = cond.size(1), u = uncond.size(1);
  if (padding_ == cond_padding::last_vector) {
    // A1111's pad_cond_uncond_v0 (DDIM's padding before 1.6).
    uncond = u < c ? at::cat({uncond, uncond.narrow(1, u - 1, 1).repeat({1, c - u, 1})}, 1) : uncond.narrow(1, 0, c);
    return;
  }
  // pad_cond_uncond: whole empty-prompt chunks after the shorter side's own.
  const at::Tensor empty = empty_cond_.to(cond.device(), cond.scalar_type()).unsqueeze(0);
  const int64_t chunk = empty.size(1);
  if (c < u) {
    cond = at::cat({cond, empty.repeat({cond.size(0), (u - c) / chunk, 1})}, 1);
  } else {
    uncond = at::cat({uncond, empty.to(uncond.scalar_type()).repeat({uncond.size(0), (c - u) / chunk, 1})}, 1);
  }
}

at::Tensor cfg_denoiser::unet_input(const at::Tensor& x, const at::Tensor& ic) const {
  return ic.defined() ? at::cat({x, ic.to(x.scalar_type())}, 1) : x;
}

at::Tensor cfg_denoiser::denoise(const at::Tensor& x, const at::Tensor& sigma) {
  at::Tensor denoised = guided(
    x, sigma,
    [this](const at::Tensor& xi, const at::Tensor& si, const at::Tensor& cond, const at::Tensor& y, const at::Tensor& ic) {
      auto s = si.view({-1, 1, 1, 1});
      auto c_in = 1.0 / (s * s + 1.0).sqrt();
      const at::Tensor t = schedule_->sigma_to_t(si);
      auto out = unet_->forward(unet_input(xi * c_in, ic), t, cond, y, token_merging_);
      if (schedule_->lcm_skip_steps() > 0) {
        // A1111's LCMCompVisDenoiser (whatever the model predicts): x0 as for eps at the table's
        // timestep, then LCM's boundary condition with σ_data = 0.5 on that timestep · 10.
        auto x0 = xi + out * (-s);
        auto st = t.view({-1, 1, 1, 1}).to(x0.device()) * 10.0;
        auto c_skip = 0.25 / (st * st + 0.25);
        auto c_out = st / (st * st + 0.25).sqrt();
        return c_out * x0 + c_skip * xi;
      }
      if (parameterization_ == prediction::v) {
        // k-diffusion DiscreteVDDPMDenoiser (σ_data = 1): c_skip = 1/(σ²+1), c_out = −σ/√(σ²+1).
        return out * (-s * c_in) + xi * (1.0 / (s * s + 1.0));
      }
      // k-diffusion DiscreteEpsDDPMDenoiser: c_in = 1/√(σ²+1), c_out = −σ, continuous t.
      return xi + out * (-s);
    });
  return blend(denoised);
}

at::Tensor cfg_denoiser::eps(const at::Tensor& x, const at::Tensor& t) {
  return guided(blend(x), t,
                [this](const at::Tensor& xi, const at::Tensor& ti, const at::Tensor& cond, const at::Tensor& y,
                       const at::Tensor& ic) {
                  auto out = unet_->forward(unet_input(xi, ic), ti, cond, y, token_merging_);
                  if (parameterization_ == prediction::eps) return out;
                  // eps = √ᾱ_t·v + √(1−ᾱ_t)·x at the integer timestep (A1111's predict_eps_from_z_and_v).
                  auto ac = schedule_->alphas_cumprod().to(xi.device()).index_select(0, ti.to(xi.device(), at::kLong));
                  ac = ac.view({-1, 1, 1, 1});
                  return ac.sqrt() * out + (1.0 - ac).sqrt() * xi;
                });
}

void cfg_denoiser::switch_model(const sdw::unet& model, const discrete_schedule& schedule, prediction parameterization,
                                std::vector<multi_cond> conds, std::vector<cond_schedule> unconds) {
  unet_ = &model;
  schedule_ = &schedule;
  parameterization_ = parameterization;
  conds_ = std::move(conds);
  unconds_ = std::move(unconds);
}

void cfg_denoiser::set_blend(at::Tensor init, at::Tensor mask, at::Tensor nmask) {
  blend_init_ = std::move(init);
  blend_mask_ = std::move(mask);
  blend_nmask_ = std::move(nmask);
}

at::Tensor cfg_denoiser::blend(const at::Tensor& x) const {
  if (!blend_mask_.defined()) return x;
  return x * blend_nmask_ + blend_init_ * blend_mask_;
}

} // namespace sdw
