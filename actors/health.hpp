#pragma once
/// The health actor: knows whether the worker is ready. The loader reports the model's state
/// and load progress, the scheduler its counters, the executor each sampler step; the front
/// door asks for the report. Runs on the CAF scheduler; owns nothing but the report.

#include "messages/interfaces.hpp"

#include <map>
#include <string>

namespace sdw {

/// The state of the health actor: the last report it was given.
struct health_state {
  health_report report;
  /// The last step each running job reported, so that sampled updates (every step locally,
  /// fewer from executor hosts) add up to the steps run; a job leaves it at its last step.
  std::map<std::string, int32_t> steps_seen;
};

/// The health actor's behaviour.
health_actor::behavior_type health(health_actor::stateful_pointer<health_state> self);

} // namespace sdw
