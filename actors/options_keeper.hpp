#pragma once
/// The options keeper: owns what the A1111 front door remembers between requests, the options
/// POST /sdapi/v1/options stored and the checkpoints and VAEs found in the models folder, so that
/// no HTTP thread holds a lock while an actor answers.

#include "messages/interfaces.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/catalog/checkpoint_catalog.hpp"
#include "runtime/catalog/vae_catalog.hpp"

#include <string>
#include <vector>

namespace sdw {

struct options_keeper_state {
  json_object stored;  ///< the options posted so far
  model_folders folders;
  checkpoint_catalog checkpoints;
  std::vector<vae_info> vaes;
};

/// The keeper's behaviour: `folders` is the models root; `startup_checkpoint` the checkpoint the
/// worker loads at start (listed wherever it is, and run when a job names none).
options_keeper_actor::behavior_type options_keeper(options_keeper_actor::stateful_pointer<options_keeper_state> self,
                                                   model_folders folders, std::string startup_checkpoint);

} // namespace sdw
