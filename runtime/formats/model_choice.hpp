#pragma once
/// Which checkpoint and VAE files a generation runs, chosen at the edge from its resolved options
/// (stored options, then override_settings) as A1111 chooses them, so that a request naming a
/// model the worker does not have is refused before it is queued.

#include "runtime/catalog/checkpoint_catalog.hpp"
#include "runtime/catalog/vae_catalog.hpp"

#include <string>
#include <vector>

namespace sdw {

struct options;
struct txt2img_request;

/// A checkpoint a job switches to partway: its file, the VAE resolved for it as A1111 resolves one
/// when it loads a checkpoint, and A1111's short title for the infotext. No title: none named.
struct switch_choice {
  std::string checkpoint;
  std::string vae;
  std::string title;
  bool named() const noexcept { return !title.empty(); }
};

/// The files a job runs; an empty checkpoint means the worker's startup model (not yet on disk
/// when the worker makes its demo model), an empty VAE the checkpoint's own.
struct model_choice {
  std::string checkpoint;
  std::string vae;
  switch_choice hires;    ///< hires fix's `hr_checkpoint_name` (not "Use same checkpoint")
  switch_choice refiner;  ///< `refiner_checkpoint` (not "", "None" or "none")
};

/// `settings.sd_model_checkpoint` found among the catalog's exact aliases (as A1111 checks the
/// option), else the startup checkpoint; `settings.sd_vae` resolved for it (resolve_vae). A
/// checkpoint or VAE name that is not there → sdw::error(bad_request) naming the field
/// ("override_settings.sd_model_checkpoint" when the request set it, else "sd_model_checkpoint")
/// and the name. `hr_checkpoint_name` (hires fix) and `refiner_checkpoint` are found as A1111's
/// get_closet_checkpoint_match finds them: unknown → bad_request naming the field.
model_choice choose_model(const txt2img_request& request, const options& settings, const checkpoint_catalog& catalog,
                          const std::vector<vae_info>& vaes);

} // namespace sdw
