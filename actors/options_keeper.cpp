#include "actors/options_keeper.hpp"

#include "runtime/base/json_writer.hpp"
#include "runtime/formats/a1111_api.hpp"
#include "runtime/formats/a1111_options_store.hpp"
#include "runtime/formats/options.hpp"


namespace sdw {

options_keeper_actor::behavior_type options_keeper(options_keeper_actor::stateful_pointer<options_keeper_state> self) {
  return {
    [=](caf::get_atom, const std::string& title, const std::string& sha256) {
      return options_json(self->state.stored, loaded_checkpoint{title, sha256});
    },
    [=](options_atom, const std::string& body,
        const std::vector<std::string>& loaded_names) -> caf::result<int32_t, std::string> {
      // Requests that come in after this answer run with the merged options; queued ones keep
      // the options they came in with.
      options_post merged = post_options(body, self->state.stored, loaded_names);
      if (merged.refused) {
        return {static_cast<int32_t>(merged.refused->status), merged.refused->body};
      }
      self->state.stored = std::move(merged.stored);
      return {int32_t{200}, std::string("null")};
    },
    [=](options_atom) { return resolve_options(self->state.stored, std::nullopt); },
    [=](checkpoints_atom, const std::vector<std::string>& folders, bool rescan) {
      if (rescan || !self->state.scanned) {
        self->state.checkpoints = find_checkpoints(folders);
        self->state.scanned = true;
      }
      return self->state.checkpoints;
    },
  };
}

} // namespace sdw
