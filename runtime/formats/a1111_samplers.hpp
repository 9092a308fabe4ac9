#pragma once
/// A1111 1.9.4's sampler list and schedule types as its API names them: what /sdapi/v1/samplers
/// shows and how a request's sampler and scheduler names resolve. No torch: the sampling loops
/// that run them are runtime/engine/samplers.hpp, the sigma schedules runtime/engine/noise_schedule.hpp.

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sdw {

/// The schedule types of A1111 1.9.4 (`sd_schedulers.schedulers`), in list order.
enum class scheduler_kind { automatic, uniform, karras, exponential, polyexponential, sgm_uniform };

/// Looks a scheduler up by name ("karras") or label ("Karras"); empty, absent or unknown names give
/// `automatic`, as A1111 does.
scheduler_kind parse_scheduler(const std::optional<std::string>& name);
/// The label A1111 shows and writes to the infotext ("SGM Uniform").
const char* scheduler_label(scheduler_kind kind);
/// The lower-case name ("sgm_uniform").
const char* scheduler_name(scheduler_kind kind);
/// The rho a scheduler uses unless option `rho` is set (Karras 7, Polyexponential 1); -1 for the
/// schedulers that take no rho.
double scheduler_default_rho(scheduler_kind kind);

/// One entry of A1111's sampler list with the options it declares.
struct sampler_info {
  std::string name;                              ///< e.g. "DPM++ 2M"
  std::vector<std::string> aliases;              ///< e.g. {"k_dpmpp_2m"}
  std::optional<scheduler_kind> default_scheduler; ///< what "Automatic" means for this sampler
  bool second_order = false;                     ///< two model calls per step (doubles total_steps)
  bool discard_next_to_last_sigma = false;
  bool uses_ensd = false;                        ///< the infotext shows ENSD when eta ≠ 0
  bool brownian_noise = false;                   ///< A1111 uses a Brownian-tree noise sampler
  bool timestep_based = false;                   ///< DDIM, PLMS, UniPC
  bool lcm_denoiser = false;                     ///< LCM: its own model wrapper and σ table
  std::map<std::string, std::string> options;    ///< as /sdapi/v1/samplers shows them ("True" etc.)
};

/// Every sampler of A1111 1.9.4 in its list order (k-diffusion, then DDIM, PLMS, UniPC, LCM).
const std::vector<sampler_info>& all_samplers();
/// The sampler with exactly this name (not an alias), or nullptr.
const sampler_info* find_sampler(const std::string& name);
/// A sampler and scheduler as a request names them, resolved the A1111 1.9.4 way.
struct resolved_sampler {
  const sampler_info* sampler;  ///< never null
  scheduler_kind scheduler;     ///< `automatic` when it equals the sampler's own default
};
/// A1111's `get_sampler_and_scheduler`: an absent or unknown sampler becomes the first one
/// ("DPM++ 2M"); a scheduler suffix on the sampler name ("DPM++ 2M Karras", "Euler SGMUniform")
/// is split off and wins over `scheduler_name`; unknown scheduler names mean Automatic; a scheduler
/// equal to the sampler's default is reported as Automatic.
resolved_sampler resolve_sampler_and_scheduler(const std::optional<std::string>& sampler_name,
                                               const std::optional<std::string>& scheduler_name);
/// The scheduler a request's choice means for this sampler: `automatic` becomes the sampler's
/// own default (e.g. Karras for DPM++ 2M) or stays automatic (= the model's uniform sigmas).
scheduler_kind effective_scheduler(const sampler_info& info, scheduler_kind requested);
/// The eta a request without one gets: option `eta_ancestral` (1.0) for k-diffusion samplers,
/// option `eta_ddim` (0.0) for the timestep samplers.
double default_eta(const sampler_info& info);

} // namespace sdw
