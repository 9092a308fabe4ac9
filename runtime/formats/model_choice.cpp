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
  // A checkpoint to switch to: the same file keeps the VAE (A1111 loads nothing), another gets
  // the one A1111 resolves when it loads that checkpoint.
  const auto switch_to = [&](const std::string& field, const std::string& name) {
    const checkpoint_info* found = catalog.find(name);
    if (found == nullptr) {
      throw error(errc::bad_request, field, "Could not find checkpoint with name " + name);
    }
    switch_choice to;
    to.checkpoint = found->path;
    to.title = found->short_title();
    if (ckpt != nullptr && found->path == ckpt->path) {
      to.vae = choice.vae;
      return to;
    }
    try {
      if (auto vae = resolve_vae(vaes, found->path, settings.sd_vae, settings.sd_vae_overrides_per_model_preferences)) {
        to.vae = vae->path;
      }
    } catch (const error& e) {
      throw error(e.code(), field_of(request, "sd_vae"), e.message());
    }
    return to;
  };
  if (request.enable_hr && request.kind == request_kind::txt2img && request.hr_checkpoint_name &&
      !request.hr_checkpoint_name->empty() && *request.hr_checkpoint_name != "Use same checkpoint") {
    choice.hires = switch_to("hr_checkpoint_name", *request.hr_checkpoint_name);
  }
  const auto& refiner = request.refiner_checkpoint;
  if (refiner && *refiner != "" && *refiner != "None" && *refiner != "none") {
    choice.refiner = switch_to("refiner_checkpoint", *refiner);
  }
  return choice;
}

} // namespace sdw
