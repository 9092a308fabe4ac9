#pragma once
/// The remote executor: one device of this process's scheduler whose batches run on an executor
/// host in another process (CAF's network layer). It connects (and reconnects) to the host,
/// forwards each batch, watches the jobs' stop flags on a short timer and tells the host when
/// one is set, and asks the host's health as a heartbeat: the host's model state becomes this
/// device's state at the scheduler. A host that goes away (connection lost, or two heartbeats
/// unanswered) takes the device offline, and its batch comes back as "executor_lost" so the
/// scheduler queues those jobs again; no job is lost with the host.

#include "messages/remote.hpp"
#include "runtime/config/worker_config.hpp"

#include <caf/typed_response_promise.hpp>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace sdw {

/// The remote executor's state.
struct remote_executor_state {
  remote_address address;
  executor_host_actor host;  ///< null while not connected
  uint64_t connection = 0;   ///< counts connections, so late answers from an old one are ignored
  bool connecting = false;
  int missed_heartbeats = 0;
  bool heartbeat_pending = false;
  int failed_connects = 0;
  uint64_t ticks = 0;
  scheduler_actor scheduler;
  int32_t index = 0;           ///< this device at the scheduler
  health_actor health;
  bool report_health = false;  ///< the first device speaks for the model in /health
  std::optional<model_state> host_model;  ///< the host's model state as last told to the scheduler
  struct flight {
    std::vector<generation_job> jobs;
    std::vector<cancel_token> tokens;
    caf::typed_response_promise<std::vector<generation_output>> promise;
    std::vector<uint8_t> sent;  ///< per job: bit 0 cancel, 1 interrupt, 2 skip told to the host
  };
  std::unordered_map<uint64_t, flight> in_flight;
  uint64_t next_batch = 0;
};

/// The remote executor's behaviour. Send it `ready_atom, <scheduler>, <index>` once the scheduler
/// exists; it then connects. `report_health`: it also tells health the host's model state.
remote_executor_actor::behavior_type remote_executor(remote_executor_actor::stateful_pointer<remote_executor_state> self,
                                                     remote_address address, health_actor health, bool report_health);

} // namespace sdw
