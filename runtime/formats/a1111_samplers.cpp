#include "runtime/formats/a1111_samplers.hpp"

#include <utility>

namespace sdw {

namespace {

struct scheduler_entry {
  scheduler_kind kind;
  const char* name;
  const char* label;
  double default_rho; // -1: the scheduler takes no rho
};

constexpr scheduler_entry k_schedulers[] = {
    {scheduler_kind::automatic, "automatic", "Automatic", -1},
    {scheduler_kind::uniform, "uniform", "Uniform", -1},
    {scheduler_kind::karras, "karras", "Karras", 7.0},
    {scheduler_kind::exponential, "exponential", "Exponential", -1},
    {scheduler_kind::polyexponential, "polyexponential", "Polyexponential", 1.0},
    {scheduler_kind::sgm_uniform, "sgm_uniform", "SGM Uniform", -1},
};

const scheduler_entry& entry_of(scheduler_kind kind) {
  for (const auto& e : k_schedulers)
    if (e.kind == kind) return e;
  return k_schedulers[0];
}

// A1111's LCMSampler: a k-diffusion loop around LCMCompVisDenoiser instead of CompVisDenoiser.
sampler_info lcm(sampler_info info) {
  info.lcm_denoiser = true;
  return info;
}

sampler_info make_info(std::string name, std::vector<std::string> aliases,
                       std::map<std::string, std::string> options, bool timestep_based = false) {
  sampler_info info;
  info.name = std::move(name);
  info.aliases = std::move(aliases);
  auto flag = [&](const char* key) { return options.count(key) && options.at(key) == "True"; };
  if (options.count("scheduler")) info.default_scheduler = parse_scheduler(options.at("scheduler"));
  info.second_order = flag("second_order");
  info.discard_next_to_last_sigma = flag("discard_next_to_last_sigma");
  info.uses_ensd = flag("uses_ensd");
  info.brownian_noise = flag("brownian_noise");
  info.timestep_based = timestep_based;
  info.options = std::move(options);
  return info;
}

std::vector<sampler_info> build_list() {
  const std::string t = "True";
  return {
      make_info("DPM++ 2M", {"k_dpmpp_2m"}, {{"scheduler", "karras"}}),
      make_info("DPM++ SDE", {"k_dpmpp_sde"}, {{"scheduler", "karras"}, {"second_order", t}, {"brownian_noise", t}}),
      make_info("DPM++ 2M SDE", {"k_dpmpp_2m_sde"}, {{"scheduler", "exponential"}, {"brownian_noise", t}}),
      make_info("DPM++ 2M SDE Heun", {"k_dpmpp_2m_sde_heun"},
                {{"scheduler", "exponential"}, {"brownian_noise", t}, {"solver_type", "heun"}}),
      make_info("DPM++ 2S a", {"k_dpmpp_2s_a"}, {{"scheduler", "karras"}, {"uses_ensd", t}, {"second_order", t}}),
      make_info("DPM++ 3M SDE", {"k_dpmpp_3m_sde"},
                {{"scheduler", "exponential"}, {"discard_next_to_last_sigma", t}, {"brownian_noise", t}}),
      make_info("Euler a", {"k_euler_a", "k_euler_ancestral"}, {{"uses_ensd", t}}),
      make_info("Euler", {"k_euler"}, {}),
      make_info("LMS", {"k_lms"}, {}),
      make_info("Heun", {"k_heun"}, {{"second_order", t}}),
      make_info("DPM2", {"k_dpm_2"}, {{"scheduler", "karras"}, {"discard_next_to_last_sigma", t}, {"second_order", t}}),
      make_info("DPM2 a", {"k_dpm_2_a"},
                {{"scheduler", "karras"}, {"discard_next_to_last_sigma", t}, {"uses_ensd", t}, {"second_order", t}}),
      make_info("DPM fast", {"k_dpm_fast"}, {{"uses_ensd", t}}),
      make_info("DPM adaptive", {"k_dpm_ad"}, {{"uses_ensd", t}}),
      make_info("Restart", {"restart"}, {{"scheduler", "karras"}, {"second_order", t}}),
      make_info("DDIM", {"ddim"}, {}, true),
      make_info("PLMS", {"plms"}, {}, true),
      make_info("UniPC", {"unipc"}, {}, true),
      lcm(make_info("LCM", {"k_lcm"}, {})),
  };
}

} // namespace

scheduler_kind parse_scheduler(const std::optional<std::string>& name) {
  if (!name) return scheduler_kind::automatic;
  for (const auto& e : k_schedulers)
    if (*name == e.name || *name == e.label) return e.kind;
  return scheduler_kind::automatic;
}

const char* scheduler_label(scheduler_kind kind) { return entry_of(kind).label; }
const char* scheduler_name(scheduler_kind kind) { return entry_of(kind).name; }

double scheduler_default_rho(scheduler_kind kind) { return entry_of(kind).default_rho; }

const std::vector<sampler_info>& all_samplers() {
  static const std::vector<sampler_info> list = build_list();
  return list;
}

const sampler_info* find_sampler(const std::string& name) {
  for (const auto& s : all_samplers())
    if (s.name == name) return &s;
  return nullptr;
}

resolved_sampler resolve_sampler_and_scheduler(const std::optional<std::string>& sampler_name,
                                               const std::optional<std::string>& scheduler_name) {
  scheduler_kind found = parse_scheduler(scheduler_name);
  std::string name = sampler_name && !sampler_name->empty() ? *sampler_name : all_samplers().front().name;
  static const scheduler_kind kinds[] = {scheduler_kind::automatic,   scheduler_kind::uniform,
                                         scheduler_kind::karras,      scheduler_kind::exponential,
                                         scheduler_kind::polyexponential, scheduler_kind::sgm_uniform};
  auto ends_with = [](const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  for (auto kind : kinds) {
    std::vector<std::string> options = {scheduler_label(kind), sdw::scheduler_name(kind)};
    if (kind == scheduler_kind::sgm_uniform) options.emplace_back("SGMUniform");
    for (const auto& option : options) {
      if (ends_with(name, " " + option)) {
        found = kind;
        name.resize(name.size() - option.size() - 1);
        break;
      }
    }
  }
  const sampler_info* sampler = find_sampler(name);
  if (!sampler) sampler = &all_samplers().front();
  if (sampler->default_scheduler && *sampler->default_scheduler == found) found = scheduler_kind::automatic;
  return {sampler, found};
}

scheduler_kind effective_scheduler(const sampler_info& info, scheduler_kind requested) {
  if (requested != scheduler_kind::automatic) return requested;
  return info.default_scheduler.value_or(scheduler_kind::automatic);
}

double default_eta(const sampler_info& info) { return info.timestep_based ? 0.0 : 1.0; }

} // namespace sdw
