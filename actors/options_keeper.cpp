#include "actors/options_keeper.hpp"

#include "runtime/base/json_writer.hpp"
#include "runtime/formats/a1111_api.hpp"
#include "runtime/formats/a1111_options_store.hpp"
#include "runtime/formats/model_choice.hpp"
#include "runtime/formats/options.hpp"

namespace sdw {

namespace {

void rescan(options_keeper_state& st) {
  st.checkpoints.rescan();
  st.vaes = scan_vaes(st.folders);
}

void take_choice(generation_job& job, const model_choice& m) {
  job.checkpoint = m.checkpoint;
  job.vae = m.vae;
  job.hires = m.hires;
  job.refiner = m.refiner;
}

/// Whether a checkpoint name is listed (after reading the folder again when it is not).
bool checkpoint_known(options_keeper_state& st, const std::string& name) {
  if (st.checkpoints.find_exact(name) == nullptr) {
    rescan(st);
  }
  return st.checkpoints.find_exact(name) != nullptr;
}

/// The job's options and model files; a name not found is looked for once more after reading the
/// folder again (a file copied in since, or the demo model written after start).
void resolve(options_keeper_state& st, generation_job& job) {
  job.settings = resolve_options(st.stored, job.request.override_settings);
  st.checkpoints.refresh_hashes();
  try {
    if (st.checkpoints.startup() == nullptr) {
      throw error(errc::not_found, "", "startup checkpoint not listed yet");
    }
    const model_choice m = choose_model(job.request, job.settings, st.checkpoints, st.vaes);
    take_choice(job, m);
  } catch (const error&) {
    rescan(st);
    const model_choice m = choose_model(job.request, job.settings, st.checkpoints, st.vaes);
    take_choice(job, m);
  }
  // override_settings_restore_afterwards false: A1111 leaves the overrides set, so the requests that
  // come in after this one run with them as stored options.
  const auto& overrides = job.request.override_settings;
  if (!job.request.override_settings_restore_afterwards && overrides && !overrides->empty()) {
    options_post kept = post_options(to_json(json_value(*overrides)), st.stored,
                                     [&st](const std::string& name) { return checkpoint_known(st, name); });
    if (!kept.refused) st.stored = std::move(kept.stored);
  }
}

} // namespace

options_keeper_actor::behavior_type options_keeper(options_keeper_actor::stateful_pointer<options_keeper_state> self,
                                                   model_folders folders, std::string startup_checkpoint) {
  self->state.folders = folders;
  self->state.checkpoints = checkpoint_catalog(folders, std::move(startup_checkpoint));
  self->state.vaes = scan_vaes(folders);
  return {
    [=](caf::get_atom, const std::string& title, const std::string& sha256) {
      return options_json(self->state.stored, loaded_checkpoint{title, sha256});
    },
    [=](options_atom, const std::string& body) -> caf::result<int32_t, std::string> {
      // Requests that come in after this answer run with the merged options; queued ones keep
      // the options they came in with.
      auto& st = self->state;
      st.checkpoints.refresh_hashes();
      options_post merged =
        post_options(body, st.stored, [&st](const std::string& name) { return checkpoint_known(st, name); });
      if (merged.refused) {
        return {static_cast<int32_t>(merged.refused->status), merged.refused->body};
      }
      st.stored = std::move(merged.stored);
      return {int32_t{200}, std::string("null")};
    },
    [=](options_atom) { return resolve_options(self->state.stored, std::nullopt); },
    [=](resolve_atom, generation_job& job) {
      try {
        resolve(self->state, job);
      } catch (const error& e) {
        job.rejected = job_error_of(e);
      }
      return std::move(job);
    },
    [=](checkpoints_atom, bool again) {
      if (again) {
        rescan(self->state);
      }
      self->state.checkpoints.refresh_hashes();
      return sd_models_json(self->state.checkpoints.list());
    },
    [=](vae_atom, bool again) {
      if (again) {
        rescan(self->state);
      }
      return sd_vae_json(self->state.vaes);
    },
  };
}

} // namespace sdw
