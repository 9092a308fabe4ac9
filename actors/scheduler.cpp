#include "actors/scheduler.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace sdw {
namespace {

using clock_type = std::chrono::steady_clock;

int64_t ms_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

job_result failure(const std::string& id, std::string kind, std::string field, std::string message) {
  job_result r;
  r.id = id;
  r.status = job_status::failed;
  r.error = job_error{std::move(kind), std::move(field), std::move(message)};
  return r;
}

/// How long a job may run at the executor, and be encoded, before it counts as lost.
constexpr auto executor_timeout = std::chrono::seconds(24 * 3600);
constexpr auto encoder_timeout = std::chrono::seconds(600);

} // namespace

caf::result<job_result> scheduler_state::submit(generation_job job) {
  if (jobs.count(job.id) != 0) {
    return jobs.at(job.id).result;
  }
  if (model_state != "failed" && queue.size() >= capacity) {
    return sd_errc::queue_full;
  }
  const std::string id = job.id;
  job_record& rec = jobs[id];
  rec.job = std::move(job);
  rec.result.id = id;
  rec.result.status = job_status::in_queue;
  rec.submitted = clock_type::now();
  if (model_state == "failed") {
    // Nothing will ever run: the job fails at once, and says why.
    finish(id, failure(id, "internal", "model", "the model failed to load: " + model_error));
    auto it = jobs.find(id);
    return it != jobs.end() ? it->second.result : failure(id, "internal", "model", model_error);
  }
  queue.push_back(id);
  job_result answer = rec.result;
  dispatch();
  report();
  return answer;
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
    }
    return r;
  }
  auto promise = self->make_response_promise<job_result>();
  it->second.waiters.push_back(promise);
  return promise;
}

caf::result<job_result> scheduler_state::status(const std::string& id) {
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
  const std::string& st = rec.result.status;
  if (rec.phase != job_phase::done || (st != job_status::failed && st != job_status::cancelled)) {
    return sd_errc::not_retryable;
  }
  if (model_state != "failed" && queue.size() >= capacity) {
    return sd_errc::queue_full;
  }
  finished.erase(std::remove(finished.begin(), finished.end(), id), finished.end());
  // The same id and input run again from the start, with fresh stop flags.
  rec.phase = job_phase::queued;
  rec.token = cancel_token{};
  rec.result = job_result{};
  rec.result.id = id;
  rec.result.status = job_status::in_queue;
  rec.submitted = clock_type::now();
  queue.push_back(id);
  ++stats.retried;
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
  auto it = jobs.find(running);
  if (running.empty() || it == jobs.end()) {
    return false;
  }
  (interrupt ? it->second.token.interrupt : it->second.token.skip)->store(true);
  return true;
}

void scheduler_state::model_ready(bool ok, const std::string& message) {
  if (ok) {
    model_state = "ready";
    dispatch();
    report();
    return;
  }
  model_state = "failed";
  model_error = message;
  const std::deque<std::string> waiting = std::move(queue);
  queue.clear();
  for (const auto& id : waiting) {
    finish(id, failure(id, "internal", "model", "the model failed to load: " + message));
  }
  report();
}

void scheduler_state::dispatch() {
  if (!running.empty() || model_state != "ready" || queue.empty()) {
    return;
  }
  const std::string id = queue.front();
  queue.pop_front();
  job_record& rec = jobs.at(id);
  rec.phase = job_phase::running;
  rec.started = clock_type::now();
  rec.result.status = job_status::in_progress;
  rec.result.delay_ms = ms_between(rec.submitted, rec.started);
  rec.job.settings_json = settings_json;
  ++stats.in_progress;
  running = id;
  auto* me = self;
  me->request(executor, executor_timeout, run_atom::value, rec.job, rec.token)
    .then(
      [me, id](generation_output& out) {
        auto& st = me->state;
        st.running.clear();
        // The next job starts while this one is encoded.
        st.dispatch();
        me->request(st.encoder, encoder_timeout, encode_atom::value, std::move(out))
          .then([me, id](job_result& r) { me->state.finish(id, std::move(r)); },
                [me, id](caf::error& err) {
                  me->state.finish(id, failure(id, "internal", "", "encoder: " + me->system().render(err)));
                });
      },
      [me, id](caf::error& err) {
        auto& st = me->state;
        st.running.clear();
        st.finish(id, failure(id, "internal", "", "executor: " + me->system().render(err)));
        st.dispatch();
      });
  report();
}

void scheduler_state::finish(const std::string& id, job_result result) {
  auto it = jobs.find(id);
  if (it == jobs.end()) {
    return;
  }
  job_record& rec = it->second;
  const auto now = clock_type::now();
  if (rec.phase == job_phase::running) {
    --stats.in_progress;
    result.delay_ms = rec.result.delay_ms;
    result.execution_ms = ms_between(rec.started, now);
  }
  if (rec.result.status == job_status::cancelled) {
    // A cancel that came while the job ran wins, even if the last step had already passed.
    result.status = job_status::cancelled;
    result.output_json.clear();
  }
  result.id = id;
  rec.phase = job_phase::done;
  rec.result = std::move(result);
  if (rec.result.status == job_status::completed) {
    ++stats.completed;
  } else if (rec.result.status == job_status::cancelled) {
    ++stats.cancelled;
  } else {
    ++stats.failed;
  }
  // Health hears first, so a client that gets its answer and then asks /health sees this job.
  report();
  const bool answered = !rec.waiters.empty();
  for (auto& w : rec.waiters) {
    w.deliver(rec.result);
  }
  rec.waiters.clear();
  if (!rec.job.options.keep_result && answered) {
    jobs.erase(it);
  } else {
    finished.push_back(id);
    while (finished.size() > kept_results) {
      jobs.erase(finished.front());
      finished.pop_front();
    }
  }
}

void scheduler_state::report() {
  stats.in_queue = static_cast<int32_t>(queue.size());
  stats.capacity = static_cast<int32_t>(capacity);
  self->send(health, queue_atom::value, stats);
}

scheduler_actor::behavior_type scheduler(scheduler_actor::stateful_pointer<scheduler_state> self,
                                         executor_actor executor, encoder_actor encoder, health_actor health,
                                         size_t capacity) {
  auto& st = self->state;
  st.self = self;
  st.executor = std::move(executor);
  st.encoder = std::move(encoder);
  st.health = std::move(health);
  st.capacity = capacity;
  return {
    [=](submit_atom, generation_job& job) { return self->state.submit(std::move(job)); },
    [=](wait_atom, const std::string& id) { return self->state.wait(id); },
    [=](status_atom, const std::string& id) { return self->state.status(id); },
    [=](cancel_atom, const std::string& id) { return self->state.cancel(id); },
    [=](retry_atom, const std::string& id) { return self->state.retry(id); },
    [=](purge_atom) { return self->state.purge(); },
    [=](interrupt_atom) { return self->state.flag_running(true); },
    [=](skip_atom) { return self->state.flag_running(false); },
    [=](options_atom, std::string& settings) {
      self->state.settings_json = std::move(settings);
      return true;
    },
    [=](ready_atom, bool ok, const std::string& message) { self->state.model_ready(ok, message); },
  };
}

} // namespace sdw
