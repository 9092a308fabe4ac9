#include "actors/health.hpp"

#include <algorithm>

namespace sdw {
namespace {

// Jobs whose last update was not their last step (cancelled, failed, lost with a host) stay in
// steps_seen; past this many the oldest names go, which at worst counts one job's steps again.
constexpr size_t steps_seen_limit = 256;

void count_steps(health_state& st, const job_progress& p) {
  auto [it, fresh] = st.steps_seen.emplace(p.id, 0);
  if (p.step > it->second) {
    st.report.sampling_steps += p.step - it->second;
    it->second = p.step;
  }
  if (p.steps > 0 && p.step >= p.steps) {
    st.steps_seen.erase(it);
  } else if (fresh && st.steps_seen.size() > steps_seen_limit) {
    st.steps_seen.erase(st.steps_seen.begin() == it ? std::next(it) : st.steps_seen.begin());
  }
}

} // namespace

health_actor::behavior_type health(health_actor::stateful_pointer<health_state> self) {
  return {
    [=](state_atom, model_status& m) { self->state.report.model = std::move(m); },
    [=](progress_atom, double fraction, std::string& stage) {
      self->state.report.model.progress = fraction;
      self->state.report.model.stage = std::move(stage);
    },
    [=](progress_atom, job_progress& p) {
      auto& r = self->state.report;
      // A job that starts (step 0) brings its own flags, clear unless it was flagged already;
      // later steps only add to them, so an update read just before /interrupt set the flag
      // does not undo it. A1111 clears `skipped` when the next n_iter batch starts.
      const int per_batch = p.iterations > 0 ? p.steps / p.iterations : p.steps;
      const bool batch_starts = p.step == 0 || (per_batch > 0 && (p.step - 1) % per_batch == 0);
      r.interrupted = p.interrupted || (p.step != 0 && r.interrupted);
      r.skipped = p.skipped || (!batch_starts && r.skipped);
      count_steps(self->state, p);
      r.current = std::move(p);
    },
    [=](interrupt_atom) { self->state.report.interrupted = true; },
    [=](skip_atom) { self->state.report.skipped = true; },
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
        return usable(d.state);
      });
      const bool some_offline = std::any_of(devices.begin(), devices.end(),
                                            [](const device_stats& d) { return d.state == device_state::offline; });
      if (r.model.state == model_state::ready && none_usable && some_offline) {
        r.model.state = model_state::loading;
        r.model.stage = "waiting for an executor host";
      }
      return r;
    },
  };
}

} // namespace sdw
