#pragma once
/// The simulated executor: speaks the executor's protocol but does not run a model. Each job
/// takes the time the cost model says for its shape on this device (scaled by `time_scale`,
/// so a study can run faster than real time), reports progress per step, honours the cancel
/// flag between steps, and returns images of the requested size and count (flat colours drawn
/// from each image's seed) with a short infotext. Everything around it (intake, scheduler,
/// encoder, protocol) is the real code; used by the simulation harness and scheduling tests.

#include "messages/interfaces.hpp"
#include "runtime/cost_model.hpp"

namespace sdw {

/// A simulated device: its cost model (speed included) and how fast simulated time runs
/// (0.01 = a 1 s job takes 10 ms).
struct sim_device {
  cost_model costs;
  double time_scale = 1.0;
};

/// The simulated executor's state.
struct sim_executor_state {
  sim_device device;
  health_actor health;
  bool has_model = false;

  generation_output run(const generation_job& job, const cancel_token& token,
                        executor_actor::stateful_pointer<sim_executor_state> self);
};

/// The simulated executor's behaviour; spawn it with caf::detached (it sleeps while "running").
executor_actor::behavior_type sim_executor(executor_actor::stateful_pointer<sim_executor_state> self,
                                           health_actor health, sim_device device);

} // namespace sdw
