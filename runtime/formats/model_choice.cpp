#include "runtime/formats/model_choice.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/formats/txt2img_request.hpp"

namespace sdw {

namespace {

/// The field to name in an error: the override when the request set one, else the stored option.
std::string field_of(const txt2img_request& request, const std::string& key) {
  if (request.override_settings) {
    for (const auto& [k, _] : *request.override_settings) {
      if (k == key) {
        return "override_settings." + key;
      }
    }
  }
  return key;
}

} // namespace

model_choice choose_model(const txt2img_request& request, const options& settings, const checkpoint_catalog& catalog,
                          const std::vector<vae_info>& vaes) {
  model_choice choice;
  const checkpoint_info* ckpt = catalog.startup();
  if (settings.sd_model_checkpoint && !settings.sd_model_checkpoint->empty()) {
    ckpt = catalog.find_exact(*settings.sd_model_checkpoint);
    if (ckpt == nullptr) {
      throw error(errc::bad_request, field_of(request, "sd_model_checkpoint"),
                  "checkpoint '" + *settings.sd_model_checkpoint +
                    "' not found (GET /sdapi/v1/sd-models lists the titles, names and hashes that select one)");
    }
  }
  if (ckpt != nullptr) {
    choice.checkpoint = ckpt->path;
  }
  try {
    if (auto vae = resolve_vae(vaes, choice.checkpoint, settings.sd_vae, settings.sd_vae_overrides_per_model_preferences)) {
      choice.vae = vae->path;
    }
  } catch (const error& e) {
    throw error(e.code(), field_of(request, "sd_vae"), e.message());
  }
  if (request.enable_hr && request.kind == request_kind::txt2img && request.hr_checkpoint_name && !request.hr_checkpoint_name->empty() &&
      *request.hr_checkpoint_name != "Use same checkpoint") {
    const checkpoint_info* hr = catalog.find(*request.hr_checkpoint_name);
    if (hr == nullptr) {
      throw error(errc::bad_request, "hr_checkpoint_name",
                  "Could not find checkpoint with name " + *request.hr_checkpoint_name);
    }
    choice.hr_checkpoint = hr->path;
    choice.hr_title = hr->short_title();
    if (ckpt != nullptr && hr->path == ckpt->path) {
      choice.hr_vae = choice.vae;  // the same checkpoint: A1111 loads nothing, the VAE stays
    } else {
      try {
        if (auto vae = resolve_vae(vaes, hr->path, settings.sd_vae, settings.sd_vae_overrides_per_model_preferences)) {
          choice.hr_vae = vae->path;
        }
      } catch (const error& e) {
        throw error(e.code(), field_of(request, "sd_vae"), e.message());
      }
    }
  }
  return choice;
}

} // namespace sdw
