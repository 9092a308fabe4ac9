#include "actors/health.hpp"

#include <algorithm>

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
    [=](report_atom) {
      health_report r = self->state.report;
      // A loaded model is no use while every device is gone (executor hosts offline): say so.
      const auto& devices = r.queue.devices;
      const bool none_usable = !devices.empty() && std::none_of(devices.begin(), devices.end(), [](const device_stats& d) {
        return d.state == "idle" || d.state == "busy";
      });
      const bool some_offline = std::any_of(devices.begin(), devices.end(),
                                            [](const device_stats& d) { return d.state == "offline"; });
      if (r.model.state == "ready" && none_usable && some_offline) {
        r.model.state = "loading";
        r.model.stage = "waiting for an executor host";
      }
      return r;
    },
  };
}

} // namespace sdw
