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

/// The files a job runs; an empty checkpoint means the worker's startup model (not yet on disk
/// when the worker makes its demo model), an empty VAE the checkpoint's own.
struct model_choice {
  std::string checkpoint;
  std::string vae;
  /// Hires fix's `hr_checkpoint_name` when set (and not "Use same checkpoint"): the checkpoint
  /// file the second pass switches to (possibly the first pass's), the VAE resolved for it as
  /// A1111 resolves one when it loads a checkpoint, and A1111's short title for the infotext.
  std::string hr_checkpoint;
  std::string hr_vae;
  std::string hr_title;
};

/// `settings.sd_model_checkpoint` found among the catalog's exact aliases (as A1111 checks the
/// option), else the startup checkpoint; `settings.sd_vae` resolved for it (resolve_vae). A
/// checkpoint or VAE name that is not there → sdw::error(bad_request) naming the field
/// ("override_settings.sd_model_checkpoint" when the request set it, else "sd_model_checkpoint")
/// and the name. `hr_checkpoint_name` (hires fix) is found as A1111's get_closet_checkpoint_match
/// finds it: unknown → bad_request naming the field.
model_choice choose_model(const txt2img_request& request, const options& settings, const checkpoint_catalog& catalog,
                          const std::vector<vae_info>& vaes);

} // namespace sdw
