#include "actors/options_keeper.hpp"

#include "runtime/base/json_writer.hpp"
#include "runtime/formats/a1111_api.hpp"
#include "runtime/formats/a1111_options_store.hpp"

#include <chrono>

namespace sdw {

options_keeper_actor::behavior_type options_keeper(options_keeper_actor::stateful_pointer<options_keeper_state> self,
                                                   scheduler_actor scheduler) {
  return {
    [=](caf::get_atom, const std::string& title, const std::string& sha256) {
      return options_json(self->state.stored, loaded_checkpoint{title, sha256});
    },
    [=](options_atom, const std::string& body,
        const std::vector<std::string>& loaded_names) -> caf::result<int32_t, std::string> {
      options_post merged = post_options(body, self->state.stored, loaded_names);
      if (merged.refused) {
        return {static_cast<int32_t>(merged.refused->status), merged.refused->body};
      }
      // The scheduler gives the options to every job that starts after it has them. Later posts
      // wait (await) so that they merge into what this one stored.
      auto promise = self->make_response_promise<int32_t, std::string>();
      self->request(scheduler, std::chrono::seconds(10), options_atom::value, to_json(json_value(merged.stored)))
        .await(
          [=](bool) mutable {
            self->state.stored = merged.stored;
            promise.deliver(int32_t{200}, std::string("null"));
          },
          [=](caf::error& e) mutable {
            const http_answer a = a1111_error_answer("internal", "", self->system().render(e));
            promise.deliver(static_cast<int32_t>(a.status), a.body);
          });
      return promise;
    },
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
