#pragma once
/// The heartbeat actor: tells RunPod the worker is alive. Every ping interval it sends
/// `GET <ping URL>?job_id=<ids in progress>&runpod_version=<v>` with the raw API key, starting at
/// once (also while the model loads) and independent of the job loop; the poller keeps it told
/// which jobs are in progress. Answers are ignored, failures logged. Runs on the CAF scheduler.

#include "messages/runpod.hpp"
#include "runtime/runpod/runpod_worker.hpp"

#include <string>
#include <vector>

namespace sdw {

/// The heartbeat's state.
struct heartbeat_state {
  runpod_settings settings;
  std::vector<std::string> job_ids;
};

/// The heartbeat's behaviour; it pings only when settings.pings() (else it idles).
heartbeat_actor::behavior_type heartbeat(heartbeat_actor::stateful_pointer<heartbeat_state> self,
                                         runpod_settings settings);

} // namespace sdw
