#pragma once
/// Executors in other processes, reached through CAF's network layer (caf::io). The host side
/// wraps a local executor; the stop flags of a job cannot cross processes, so cancel, interrupt
/// and skip travel as messages naming the job.

#include "messages/interfaces.hpp"

#include <caf/all.hpp>

#include <string>
#include <vector>

namespace sdw {

/// The executor host, published on a TCP port: runs batches on its process's executor once its
/// model is loaded (batches that come earlier wait), stops a job by id, and reports its health
/// (which also serves the front's heartbeat). ready comes from its own loader.
using executor_host_actor = caf::typed_actor<
  caf::replies_to<run_atom, std::vector<generation_job>>::with<std::vector<generation_output>>,
  caf::reacts_to<cancel_atom, std::string>,
  caf::reacts_to<interrupt_atom, std::string>,
  caf::reacts_to<skip_atom, std::string>,
  caf::reacts_to<ready_atom, bool, std::string>,
  caf::reacts_to<ready_atom, bool, std::string, int32_t>,
  caf::replies_to<report_atom>::with<health_report>>;

/// The local stand-in for an executor host: an executor to the scheduler. `ready_atom,
/// scheduler, index` names the scheduler and its device index (the scheduler is spawned after it).
using remote_executor_actor =
  executor_actor::extend<caf::reacts_to<tick_atom>, caf::reacts_to<ready_atom, scheduler_actor, int32_t>>;

} // namespace sdw
