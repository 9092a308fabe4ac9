#pragma once
/// The executor host: lets a scheduler in another process use this process's executor through
/// CAF's network layer. It keeps each running job's stop flags (which cannot travel) and sets
/// them when a cancel, interrupt or skip message names the job; batches that arrive before the
/// model is loaded wait here. A front that goes away has its running jobs cancelled, so the
/// device is free for the next one. Runs on the CAF scheduler; its loader tells it when the
/// model is ready.

#include "messages/remote.hpp"

#include <caf/typed_response_promise.hpp>

#include <deque>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace sdw {

/// The executor host's state.
struct executor_host_state {
  executor_actor executor;
  health_actor health;
  sdw::model_state model = sdw::model_state::loading;
  std::string model_error;
  struct batch {
    std::vector<generation_job> jobs;
    std::vector<cancel_token> tokens;
    caf::typed_response_promise<std::vector<generation_output>> promise;
  };
  std::deque<batch> waiting;  ///< batches that came before the model was loaded
  struct held_job {
    cancel_token token;
    caf::actor_addr front;  ///< who sent it (a proxy of the front's remote executor)
  };
  std::unordered_map<std::string, held_job> jobs;  ///< waiting or running, by id
  std::set<caf::actor_addr> fronts;                 ///< senders being monitored
};

/// The executor host's behaviour.
executor_host_actor::behavior_type executor_host(executor_host_actor::stateful_pointer<executor_host_state> self,
                                                 executor_actor executor, health_actor health);

} // namespace sdw
