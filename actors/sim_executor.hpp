#pragma once
/// The simulated executor: speaks the executor's protocol but does not run a model. Each batch
/// takes the time the cost model says for its shape on this device (members of the same size
/// and steps share each UNet call; scaled by `time_scale`, so a study can run faster than real
/// time), reports progress per step, honours each member's cancel flag between steps, and
/// returns images of the requested size and count (flat colours drawn
/// from each image's seed) with a short infotext. Everything around it (intake, scheduler,
/// encoder, protocol) is the real code; used by the simulation harness and scheduling tests.

#include "messages/interfaces.hpp"
#include "runtime/sched/cost_model.hpp"

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
  /// The engine time the current batch has simulated so far (what its outputs report as
  /// engine_us: the cost model's time, not the sleeps' jitter).
  double simulated_us = 0;

  /// Runs a batch: one output per job, in order. Members of one shape (size, steps, n_iter 1)
  /// share the batch's time; any other mix runs one member after another.
  std::vector<generation_output> run(const std::vector<generation_job>& jobs, const std::vector<cancel_token>& tokens,
                                     executor_actor::stateful_pointer<sim_executor_state> self);

  /// Runs members that share every UNet call (or one job of any shape) for the cost model's time.
  void run_together(std::vector<generation_output*> outs, std::vector<const cancel_token*> tokens,
                    executor_actor::stateful_pointer<sim_executor_state> self);
};

/// The simulated executor's behaviour; spawn it with caf::detached (it sleeps while "running").
executor_actor::behavior_type sim_executor(executor_actor::stateful_pointer<sim_executor_state> self,
                                           health_actor health, sim_device device);

} // namespace sdw
