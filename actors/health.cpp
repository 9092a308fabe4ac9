#include "actors/health.hpp"

namespace sdw {

health_actor::behavior_type health(health_actor::stateful_pointer<health_state> self) {
  return {
    [=](state_atom, model_status& m) { self->state.report.model = std::move(m); },
    [=](progress_atom, double fraction, std::string& stage) {
      self->state.report.model.progress = fraction;
      self->state.report.model.stage = std::move(stage);
    },
    [=](progress_atom, job_progress& p) { self->state.report.current = std::move(p); },
    [=](queue_atom, const queue_stats& q) {
      self->state.report.queue = q;
      if (q.in_progress == 0) {
        self->state.report.current = job_progress{};
      }
    },
    [=](report_atom) { return self->state.report; },
  };
}

} // namespace sdw
