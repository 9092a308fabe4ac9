#include "runtime/engine/sampling_setup.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/formats/a1111_scripts.hpp"

#include <algorithm>

namespace sdw {
namespace {

/// The sigma schedule A1111's get_sigmas uses, and whether a named scheduler was applied
/// (which is what puts "Schedule type" into extra_generation_params).
struct scheduler_choice {
  scheduler_kind kind = scheduler_kind::uniform;
  bool applied = false;
};

scheduler_choice choose_scheduler(const sampler_info& sampler, const std::optional<std::string>& requested) {
  std::string name = requested.value_or("");
  if (name.empty() || name == "Automatic") {
    if (sampler.default_scheduler && *sampler.default_scheduler != scheduler_kind::automatic) {
      return {*sampler.default_scheduler, true};
    }
    return {};
  }
  for (auto kind : {scheduler_kind::uniform, scheduler_kind::karras, scheduler_kind::exponential,
                    scheduler_kind::polyexponential, scheduler_kind::sgm_uniform}) {
    if (name == scheduler_name(kind) || name == scheduler_label(kind)) {
      return {kind, true};
    }
  }
  // "automatic" by name, or an unknown string: the model's own (uniform) schedule, unlabelled.
  return {};
}



} // namespace

sampling_setup make_sampling_setup(const txt2img_request& req, const options& opts) {
  const std::string& sampler_name = req.effective_sampler_name();
  const sampler_info* sampler = find_sampler(sampler_name);
  if (sampler == nullptr) {
    throw error(errc::not_found, "sampler_name", "Sampler not found: '" + sampler_name + "'");
  }
  if (!implemented(*sampler)) {
    throw error(errc::unsupported, "sampler_name", "sampler '" + sampler_name + "' is not supported yet");
  }
  // Features A1111 has and this engine does not do yet fail loudly rather than being ignored.
  // A selectable script replaces this pipeline (SD upscale runs it per tile without the script).
  if (req.script_name && !req.script_name->empty()) {
    throw error(errc::unsupported, "script_name", "a script's job does not run as a plain generation");
  }
  check_request_scripts(req);

  sampling_setup s;
  s.sampler = sampler;
  // The request's raw scheduler fills the infotext slot; A1111's get_sigmas overwrites it with
  // the label of a scheduler it actually applied.
  s.schedule_type = req.scheduler;
  const scheduler_choice choice = choose_scheduler(*sampler, req.scheduler);
  s.scheduler = choice.kind;
  if (choice.applied && !sampler->timestep_based) {
    s.schedule_type = scheduler_label(choice.kind);
    s.extra.emplace_back("Schedule type", json_value(*s.schedule_type));
  }
  s.sigma_opts.sigma_min = opts.sigma_min;
  s.sigma_opts.sigma_max = opts.sigma_max;
  s.sigma_opts.rho = opts.rho;
  s.sigma_opts.discard_next_to_last_sigma =
      sampler->discard_next_to_last_sigma || opts.always_discard_next_to_last_sigma;
  s.sigma_opts.use_old_karras = opts.use_old_karras_scheduler_sigmas;
  if (!sampler->timestep_based) {
    if (choice.applied && opts.sigma_min != 0) {
      s.extra.emplace_back("Schedule min sigma", json_value(opts.sigma_min));
    }
    if (choice.applied && opts.sigma_max != 0) {
      s.extra.emplace_back("Schedule max sigma", json_value(opts.sigma_max));
    }
    if (choice.applied && opts.rho != 0 &&
        (choice.kind == scheduler_kind::karras || choice.kind == scheduler_kind::polyexponential)) {
      s.extra.emplace_back("Schedule rho", json_value(opts.rho));
    }
  }
  if (opts.always_discard_next_to_last_sigma && !sampler->discard_next_to_last_sigma) {
    s.extra.emplace_back("Discard penultimate sigma", json_value(true));
  }

  sampler_params& params = s.params;
  // Request value, else the option (A1111's __post_init__); a non-default option of the
  // s_* family wins over the request and is noted (Sampler.initialize).
  const double option_eta = sampler->timestep_based ? opts.eta_ddim : opts.eta_ancestral;
  params.eta = req.eta.value_or(option_eta);
  const sampler_takes takes = parameters_taken(*sampler);
  if (takes.eta && params.eta != default_eta(*sampler)) {
    s.extra.emplace_back(sampler->timestep_based ? "Eta DDIM" : "Eta", json_value(params.eta));
  }
  auto pick = [](const std::optional<double>& request, double option) {
    return request && *request != 0.0 ? *request : option;
  };
  params.s_churn = pick(req.s_churn, opts.s_churn);
  params.s_tmin = pick(req.s_tmin, opts.s_tmin);
  params.s_tmax = pick(req.s_tmax, opts.s_tmax);
  params.s_noise = pick(req.s_noise, opts.s_noise);
  const struct {
    double option, sampler_default;
    double sampler_params::*field;
    bool taken;
    const char* key;
  } overrides[] = {{opts.s_churn, 0.0, &sampler_params::s_churn, takes.churn, "Sigma churn"},
                   {opts.s_tmin, 0.0, &sampler_params::s_tmin, takes.churn, "Sigma tmin"},
                   {opts.s_tmax, 0.0, &sampler_params::s_tmax, takes.churn, "Sigma tmax"},
                   {opts.s_noise, 1.0, &sampler_params::s_noise, takes.s_noise, "Sigma noise"}};
  for (const auto& o : overrides) {
    if (o.taken && o.option != o.sampler_default) {
      params.*o.field = o.option;
      s.extra.emplace_back(o.key, json_value(o.option));
    }
  }
  if (params.s_tmax == 0.0) {
    params.s_tmax = INFINITY;
  }
  s.s_min_uncond = req.s_min_uncond.value_or(opts.s_min_uncond);
  s.noise_schedule = parse_noise_schedule(opts.sd_noise_schedule);
  s.downcast_alphas = opts.use_downcasted_alpha_bar;
  if (s.downcast_alphas && s.noise_schedule == noise_schedule_kind::zero_terminal_snr)
    throw error(errc::bad_request, "override_settings.use_downcasted_alpha_bar",
                "cannot go with sd_noise_schedule \"Zero Terminal SNR\": the rescale of the fp16 ᾱ gives an "
                "infinite σ (A1111's job fails there too)");
  s.padding = opts.pad_cond_uncond_v0 ? cond_padding::last_vector
              : opts.pad_cond_uncond  ? cond_padding::empty_prompt
                                      : cond_padding::none;
  s.token_merging = token_merging_ratio(req, opts, false);
  return s;
}

double token_merging_ratio(const txt2img_request& req, const options& opts, bool hires_pass) {
  if (req.kind == request_kind::img2img) {
    // The img2img ratio wins over the general one, unless the request overrides the general one.
    const bool overridden =
      req.override_settings && std::any_of(req.override_settings->begin(), req.override_settings->end(),
                                           [](const json_member& m) { return m.first == "token_merging_ratio"; });
    if (overridden && opts.token_merging_ratio != 0) return opts.token_merging_ratio;
    return opts.token_merging_ratio_img2img != 0 ? opts.token_merging_ratio_img2img : opts.token_merging_ratio;
  }
  if (hires_pass && opts.token_merging_ratio_hr != 0) return opts.token_merging_ratio_hr;
  return opts.token_merging_ratio;
}

} // namespace sdw
