#pragma once
/// The options keeper: owns what the A1111 front door remembers between requests, the options
/// POST /sdapi/v1/options stored and the checkpoint files found in the model folders, so that no
/// HTTP thread holds a lock while an actor answers.

#include "messages/interfaces.hpp"
#include "runtime/base/json_value.hpp"

#include <string>
#include <vector>

namespace sdw {

struct options_keeper_state {
  json_object stored;                    ///< the options posted so far
  std::vector<std::string> checkpoints;  ///< the last scan of the model folders
  bool scanned = false;
};

/// The keeper's behaviour.
options_keeper_actor::behavior_type options_keeper(options_keeper_actor::stateful_pointer<options_keeper_state> self);

} // namespace sdw
