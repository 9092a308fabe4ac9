#include "actors/scheduler.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace sdw {
namespace {

using clock_type = std::chrono::steady_clock;

} // namespace

caf::result<job_result> scheduler_state::submit(generation_job job) {
  if (jobs.count(job.id) != 0) {
    return jobs.at(job.id).result;
  }
  if (model != model_state::failed && queue.size() >= limits.capacity) {
    return sd_errc::queue_full;
  }
  const std::string id = job.id;
  job_record& rec = jobs[id];
  rec.job = std::move(job);
  rec.plan = plan_job(rec.job.request, rec.job.settings, model_key(rec.job));
  rec.result.id = id;
  rec.result.status = job_status::in_queue;
  rec.submitted = clock_type::now();
  if (rec.job.answered) {
    return record_answer(id);
  }
  if (rec.job.rejected) {
    return fail_at_once(id, *rec.job.rejected);
  }
  if (model == model_state::failed) {
    // Nothing will ever run: the job fails at once, and says why.
    return fail_at_once(id, {errc::internal, "model", "the model failed to load: " + model_error});
  }
  queue.push_back(id);
  job_result answer = rec.result;
  dispatch();
  report();
  return answer;
}

job_result scheduler_state::record_answer(const std::string& id) {
  job_result answer = *jobs.at(id).job.answered;
  finish(id, answer);
  auto it = jobs.find(id);
  return it != jobs.end() ? it->second.result : answer;
}

job_result scheduler_state::fail_at_once(const std::string& id, job_error why) {
  finish(id, failed_job(id, why));
  auto it = jobs.find(id);
  return it != jobs.end() ? it->second.result : failed_job(id, std::move(why));
}

caf::result<job_result> scheduler_state::wait(const std::string& id) {
  auto it = jobs.find(id);
  if (it == jobs.end()) {
    return sd_errc::unknown_job;
  }
  if (it->second.phase == job_phase::done) {
    job_result r = it->second.result;
    if (!it->second.job.options.keep_result) {
      // Finished before its client asked: this answer is the one it was kept for.
      jobs.erase(it);
      finished.drop(id);
    }
    return r;
  }
  auto promise = self->make_response_promise<job_result>();
  it->second.waiters.push_back(promise);
  return promise;
}

caf::result<job_result> scheduler_state::status(const std::string& id) {
  forget(finished.expire(clock_type::now()));
  auto it = jobs.find(id);
  if (it == jobs.end()) {
    return sd_errc::unknown_job;
  }
  return it->second.result;
}

caf::result<job_result> scheduler_state::cancel(const std::string& id) {
  auto it = jobs.find(id);
  if (it == jobs.end()) {
    return sd_errc::unknown_job;
  }
  job_record& rec = it->second;
  if (rec.phase == job_phase::queued) {
    queue.erase(std::remove(queue.begin(), queue.end(), id), queue.end());
    job_result r;
    r.id = id;
    r.status = job_status::cancelled;
    finish(id, r);
    return r;
  }
  if (rec.phase == job_phase::running) {
    // The executor checks the flag between sampler steps; the job ends as CANCELLED.
    rec.token.flag->store(true);
    rec.result.status = job_status::cancelled;
  }
  return rec.result;
}

caf::result<job_result> scheduler_state::retry(const std::string& id) {
  auto it = jobs.find(id);
  if (it == jobs.end()) {
    return sd_errc::unknown_job;
  }
  job_record& rec = it->second;
  const job_status st = rec.result.status;
  if (rec.phase != job_phase::done || (st != job_status::failed && st != job_status::cancelled)) {
    return sd_errc::not_retryable;
  }
  if (model != model_state::failed && queue.size() >= limits.capacity) {
    return sd_errc::queue_full;
  }
  finished.drop(id);
  // The same id and input run again from the start, with fresh stop flags.
  rec.phase = job_phase::queued;
  rec.token = cancel_token{};
  rec.result = job_result{};
  rec.result.id = id;
  rec.result.status = job_status::in_queue;
  rec.submitted = clock_type::now();
  ++stats.retried;
  if (rec.job.answered) {
    // An A1111 call answered where it came in: requeued, it ends as it did.
    job_result requeued = rec.result;
    record_answer(id);
    return requeued;
  }
  if (rec.job.rejected) {
    // Its input has not changed: requeued (the answer says so, as RunPod's does), it fails again.
    job_result requeued = rec.result;
    fail_at_once(id, *rec.job.rejected);
    return requeued;
  }
  queue.push_back(id);
  job_result answer = rec.result;
  dispatch();
  report();
  return answer;
}

int32_t scheduler_state::purge() {
  const std::deque<std::string> waiting = std::move(queue);
  queue.clear();
  for (const auto& id : waiting) {
    job_result r;
    r.id = id;
    r.status = job_status::cancelled;
    finish(id, r);
  }
  report();
  return static_cast<int32_t>(waiting.size());
}

bool scheduler_state::flag_running(bool interrupt) {
  bool any = false;
  for (const auto& slot : devices) {
    for (const auto& id : slot.running) {
      auto it = jobs.find(id);
      if (it != jobs.end() && it->second.phase == job_phase::running) {
        (interrupt ? it->second.token.interrupt : it->second.token.skip)->store(true);
        any = true;
      }
    }
  }
  // A1111 sets its state flag even when nothing runs; /progress shows it until a job starts.
  if (interrupt) {
    self->send(health, interrupt_atom::value);
  } else {
    self->send(health, skip_atom::value);
  }
  return any;
}

void scheduler_state::model_ready(bool ok, const std::string& message, int32_t index) {
  if (index >= static_cast<int32_t>(devices.size())) {
    spdlog::warn("model state for device {} of {} ignored", index, devices.size());
    return;
  }
  for (size_t d = 0; d < devices.size(); ++d) {
    if (index < 0 || static_cast<size_t>(index) == d) {
      devices[d].stats.state = ok ? device_state::idle : device_state::failed;
    }
  }
  const bool any_ready = std::any_of(devices.begin(), devices.end(), [](const device_slot& s) {
    return usable(s.stats.state);
  });
  const bool all_failed = std::all_of(devices.begin(), devices.end(),
                                      [](const device_slot& s) { return s.stats.state == device_state::failed; });
  if (!ok) {
    spdlog::error("model failed on {}: {}", index < 0 ? std::string("every device") : devices.at(index).device.name,
                  message);
    model_error = message;
  }
  if (any_ready) {
    model = model_state::ready;
    dispatch();
    report();
    return;
  }
  if (!all_failed) {
    report();
    return;
  }
  // No device will ever run a job: the queued ones fail at once, and say why.
  model = model_state::failed;
  const std::deque<std::string> waiting = std::move(queue);
  queue.clear();
  for (const auto& id : waiting) {
    finish(id, failed_job(id, {errc::internal, "model", "the model failed to load: " + model_error}));
  }
  report();
}

void scheduler_state::device_offline(const std::string& why, int32_t index) {
  if (index < 0 || index >= static_cast<int32_t>(devices.size())) {
    return;
  }
  devices[index].stats.state = device_state::offline;
  spdlog::warn("device {} offline: {}", devices[index].device.name, why);
  report();
}

void scheduler_state::device_holding(size_t index, int64_t bytes, std::vector<std::string> held) {
  device_slot& slot = devices.at(index);
  slot.stats.model_bytes = bytes;
  slot.stats.cached_models = std::move(held);
  if (slot.stats.cached_models.empty()) {
    slot.model.clear();
  }
  report();
}

namespace {

/// unload or reload on every executor (each after the batch it is running); answers the bytes of
/// weights the devices hold afterwards, or the first error.
template <class Atom>
caf::result<int64_t> pass_to_executors(scheduler_actor::stateful_pointer<scheduler_state> self, Atom atom) {
  struct tally {
    caf::typed_response_promise<int64_t> promise;
    size_t left = 0;
    int64_t bytes = 0;
    caf::error failure;
    void one_done() {
      if (--left > 0) return;
      if (failure) {
        promise.deliver(failure);
      } else {
        promise.deliver(bytes);
      }
    }
  };
  auto t = std::make_shared<tally>();
  t->promise = self->make_response_promise<int64_t>();
  t->left = self->state.devices.size();
  if (t->left == 0) {
    t->promise.deliver(int64_t{0});
    return t->promise;
  }
  for (size_t d = 0; d < self->state.devices.size(); ++d) {
    self->request(self->state.devices[d].device.executor, caf::infinite, atom)
      .then(
        [self, d, t](int64_t bytes, std::vector<std::string>& held) {
          self->state.device_holding(d, bytes, std::move(held));
          t->bytes += bytes;
          t->one_done();
        },
        [t](caf::error& e) {
          if (!t->failure) t->failure = e;
          t->one_done();
        });
  }
  return t->promise;
}

scheduler_actor::behavior_type behaviour(scheduler_actor::stateful_pointer<scheduler_state> self) {
  return {
    [=](submit_atom, generation_job& job) { return self->state.submit(std::move(job)); },
    [=](wait_atom, const std::string& id) { return self->state.wait(id); },
    [=](status_atom, const std::string& id) { return self->state.status(id); },
    [=](cancel_atom, const std::string& id) { return self->state.cancel(id); },
    [=](retry_atom, const std::string& id) { return self->state.retry(id); },
    [=](purge_atom) { return self->state.purge(); },
    [=](interrupt_atom) { return self->state.flag_running(true); },
    [=](skip_atom) { return self->state.flag_running(false); },
    [=](unload_atom) { return pass_to_executors(self, unload_atom::value); },
    [=](reload_atom) { return pass_to_executors(self, reload_atom::value); },
    [=](ready_atom, bool ok, const std::string& message) { self->state.model_ready(ok, message); },
    [=](ready_atom, bool ok, const std::string& message, int32_t index) {
      self->state.model_ready(ok, message, index);
    },
    [=](offline_atom, const std::string& why, int32_t index) { self->state.device_offline(why, index); },
  };
}

} // namespace

scheduler_actor::behavior_type scheduler_for_devices(scheduler_actor::stateful_pointer<scheduler_state> self,
                                                     std::vector<scheduler_device> devices, encoder_actor encoder,
                                                     health_actor health, scheduler_limits limits) {
  auto& st = self->state;
  st.self = self;
  for (auto& d : devices) {
    device_slot slot;
    slot.stats.name = d.name;
    slot.stats.state = device_state::loading;
    slot.stats.speed = d.costs.speed;
    slot.stats.calibrated_speed = d.costs.speed;
    slot.device = std::move(d);
    st.devices.push_back(std::move(slot));
  }
  st.encoder = std::move(encoder);
  st.health = std::move(health);
  st.limits = limits;
  st.limits.max_batch = std::max(1, st.limits.max_batch);
  st.finished = result_retention(limits.kept);
  return behaviour(self);
}

scheduler_actor::behavior_type scheduler(scheduler_actor::stateful_pointer<scheduler_state> self,
                                         executor_actor executor, encoder_actor encoder, health_actor health,
                                         size_t capacity) {
  std::vector<scheduler_device> devices{scheduler_device{std::move(executor), "executor", cost_model{}}};
  return scheduler_for_devices(self, std::move(devices), std::move(encoder), std::move(health),
                               scheduler_limits{capacity, 4});
}

} // namespace sdw
