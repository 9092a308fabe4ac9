#include "actors/runpod_poller.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/runpod/runpod_api.hpp"
#include "runtime/runpod/runpod_log.hpp"
#include "runtime/runpod/runpod_worker.hpp"

#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <vector>

namespace sdw {
namespace {

using self_pointer = poller_actor::stateful_pointer<poller_state>;

constexpr auto tick_every = std::chrono::milliseconds(250);
/// RunPod holds job-take open for a while when it has no job (a long poll); the SDK gives up after 90 s.
constexpr auto take_timeout = std::chrono::seconds(90);
/// At most one progress update per job per second (plus the first step).
constexpr auto ask_timeout = std::chrono::seconds(10);

/// Where a final result goes: a job that ran also says on which device and in a batch of how
/// many jobs (query parameters, so the output the user receives is untouched).
std::string done_url(const runpod_settings& settings, const std::string& id, const job_result& r) {
  return r.batch_jobs > 0 ? job_done_url_for_run(settings, id, r.device, r.batch_jobs) : job_done_url(settings, id);
}

void tell_heartbeat(self_pointer self) {
  auto& st = self->state;
  std::vector<std::string> ids(st.running.begin(), st.running.end());
  ids.insert(ids.end(), st.delivering.begin(), st.delivering.end());
  self->send(st.config.heartbeat, jobs_atom::value, std::move(ids));
}

void check_done(self_pointer self) {
  auto& st = self->state;
  if (st.done || !st.stopping || st.taking || !st.running.empty() || !st.delivering.empty()) {
    return;
  }
  st.done = true;
  spdlog::info("all jobs delivered; the worker stops");
  if (st.config.on_done) {
    st.config.on_done(st.unfit ? 1 : 0);
  }
  self->quit();
}

void schedule_take(self_pointer self, std::chrono::milliseconds delay) {
  auto& st = self->state;
  if (st.take_scheduled || st.stopping) {
    return;
  }
  st.take_scheduled = true;
  self->delayed_send(self, delay, take_atom::value);
}

/// How many more jobs the worker takes now (runpod concurrency minus the jobs it runs).
int jobs_wanted(const poller_state& st) {
  return std::max(0, st.config.settings.concurrency - static_cast<int>(st.running.size()));
}

void take(self_pointer self) {
  auto& st = self->state;
  st.take_scheduled = false;
  const int wanted = jobs_wanted(st);
  if (!st.ready || st.stopping || st.taking || wanted == 0) {
    return;
  }
  st.taking = true;
  const std::string url =
    job_take_url(st.config.settings, !st.running.empty() || !st.delivering.empty(), wanted);
  st.take_cancel = std::make_unique<http_cancel>();
  auto me = caf::actor_cast<poller_actor>(self);
  http_call_async("GET", url, st.config.settings.api_key, "", take_timeout,
                  [me](http_exchange answer) { caf::anon_send(me, taken_atom::value, std::move(answer)); },
                  st.take_cancel.get());
}

void finish(self_pointer self, const std::string& id, const job_result& r) {
  auto& st = self->state;
  if (st.running.erase(id) == 0) {
    return;
  }
  std::string body;
  if (r.status == job_status::completed && !r.output_json.empty()) {
    body = done_output_body(r.output_json);
    log_job(log_level::info, id, "Job completed; posting the result");
  } else if (r.status == job_status::failed && r.error.verbatim) {
    // An A1111 answer with `error`: posted as worker-a1111's handler and the SDK post it.
    body = r.output_json.empty() ? done_error_body(r.error.message, false)
                                 : done_failed_body(r.output_json, r.error.message);
    log_job(log_level::error, id, "Job failed with error: " + r.error.message);
  } else {
    job_error e = r.error;
    if (r.status == job_status::completed) {
      e = job_error{errc::internal, "", "the job completed without output"};
    } else if (r.status == job_status::cancelled && e.message.empty()) {
      e = job_error{errc::cancelled, "", "the job was cancelled"};
    }
    const bool device_fault = e.kind == errc::device_fault;
    if (device_fault) {
      st.unfit = true;
      st.stopping = true;
    }
    body = done_error_body(runpod_error_text(e.kind, e.field, e.message), device_fault);
    log_job(log_level::error, id,
            "Job failed with error: " + (e.field.empty() ? e.message : e.field + ": " + e.message) +
              (device_fault ? " (device fault: this worker takes no more jobs)" : ""));
  }
  st.progress.forget(id);
  st.delivering.insert(id);
  tell_heartbeat(self);
  self->request(st.config.delivery, caf::infinite, deliver_atom::value,
                job_post{id, done_url(st.config.settings, id, r), std::move(body)})
    .then(
      [self, id](bool) {
        self->state.delivering.erase(id);
        tell_heartbeat(self);
        check_done(self);
      },
      [self, id](caf::error&) {
        self->state.delivering.erase(id);
        check_done(self);
      });
  self->send(self, take_atom::value);
}

void submit(self_pointer self, generation_job typed);

/// The drain is over (its deadline passed, or a second signal came): each job still running is
/// cancelled at the scheduler and ends now with an error result, delivered like any other, so
/// the platform hears why instead of losing the job with the process.
void end_running_jobs(self_pointer self) {
  auto& st = self->state;
  const std::vector<std::string> ids(st.running.begin(), st.running.end());
  for (const auto& id : ids) {
    self->request(st.config.scheduler, ask_timeout, cancel_atom::value, id).then([](job_result&) {}, [](caf::error&) {});
    job_result r;
    r.id = id;
    r.status = job_status::cancelled;
    r.error = job_error{errc::cancelled, "", "the worker was stopped (SIGTERM) before the job finished"};
    finish(self, id, r);
  }
  if (!ids.empty()) {
    spdlog::warn("stopped with {} job(s) unfinished; each ends with an error", ids.size());
  }
  check_done(self);
}

void start_job(self_pointer self, const runpod_job& job) {
  auto& st = self->state;
  const std::string id = job.id;
  if (st.delivering.count(id) != 0 || !st.running.insert(id).second) {
    log_job(log_level::warn, id, "handed out again while in progress; ignored");
    // Nothing new runs: with room for more, nothing else would ask for the next one.
    if (jobs_wanted(st) > 0) {
      self->send(self, take_atom::value);
    }
    return;
  }
  tell_heartbeat(self);
  log_job(log_level::info, id, "Started.");
  generation_job typed{id, {}, {}, job_options{false}, std::nullopt};
  try {
    const a1111_call call = job_call(job.body);
    if (!is_generation_call(call)) {
      auto me = caf::actor_cast<poller_actor>(self);
      run_a1111_call_job(*st.config.a1111, id, call,
                         [me](job_result r) { caf::anon_send(me, answered_atom::value, std::move(r)); });
      return;
    }
    typed.request = generation_request_from_call(call);
    check_request_work(typed.request, st.config.settings.max_megapixel_steps);
  } catch (const error& e) {
    finish(self, id, failed_job(id, job_error_of(e)));
    return;
  } catch (const std::exception& e) {
    finish(self, id, failed_job(id, {errc::bad_request, "input", e.what()}));
    return;
  }
  // The options a job runs with (those stored by POST /sdapi/v1/options jobs, then its overrides)
  // and the checkpoint and VAE files they name.
  self->request(st.config.a1111->options, ask_timeout, resolve_atom::value, std::move(typed))
    .then(
      [self](generation_job& ready) {
        if (ready.rejected) {
          return finish(self, ready.id, failed_job(ready.id, *ready.rejected));
        }
        submit(self, std::move(ready));
      },
      [self, id](caf::error& err) {
        finish(self, id, failed_job(id, {errc::internal, "", "options keeper: " + self->system().render(err)}));
      });
}

void submit(self_pointer self, generation_job typed) {
  const std::string id = typed.id;
  self->request(self->state.config.scheduler, ask_timeout, submit_atom::value, std::move(typed))
    .then(
      [self, id](job_result&) {
        self->request(self->state.config.scheduler, caf::infinite, wait_atom::value, id)
          .then([self, id](job_result& r) { finish(self, id, r); },
                [self, id](caf::error& err) {
                  finish(self, id, failed_job(id, {errc::internal, "", "scheduler: " + self->system().render(err)}));
                });
      },
      [self, id](caf::error& err) {
        const std::string why =
          is(err, sd_errc::queue_full) ? "the worker's queue is full" : "scheduler: " + self->system().render(err);
        finish(self, id, failed_job(id, {errc::internal, "", why}));
      });
}

void on_taken(self_pointer self, const http_exchange& answer) {
  auto& st = self->state;
  st.taking = false;
  st.take_cancel.reset();
  if (!answer.failure.empty()) {
    if (!st.stopping) {
      spdlog::warn("job-take to {} failed: {}", url_for_log(job_take_url(st.config.settings, false)),
                   answer.failure);
    }
    schedule_take(self, take_pause(take_outcome::kind::failed));
    check_done(self);
    return;
  }
  const take_outcome outcome = classify_take(answer.status, answer.content_type, answer.body);
  if (!outcome.message.empty()) {
    spdlog::warn("{}", outcome.message);
  }
  switch (outcome.what) {
    case take_outcome::kind::no_job:
      schedule_take(self, take_pause(outcome.what));
      break;
    case take_outcome::kind::back_off:
      spdlog::info("job-take answered 429 (too many requests); waiting {} ms", take_pause(outcome.what).count());
      schedule_take(self, take_pause(outcome.what));
      break;
    case take_outcome::kind::failed:
      spdlog::warn("Failed to get job: {}", outcome.message);
      schedule_take(self, take_pause(take_outcome::kind::failed));
      break;
    case take_outcome::kind::jobs:
      // Jobs taken after a stop began still run: every taken job gets its result.
      for (const auto& job : outcome.rejected) {
        start_job(self, job);
      }
      for (const auto& job : outcome.jobs) {
        start_job(self, job);
      }
      // Room for more (fewer jobs came than asked for): ask again at once.
      if (jobs_wanted(st) > 0) {
        self->send(self, take_atom::value);
      }
      break;
  }
  check_done(self);
}

void post_progress(self_pointer self, const job_progress& p) {
  auto& st = self->state;
  if (st.running.count(p.id) == 0 || !st.progress.should_post(p.id, p.step, std::chrono::steady_clock::now())) {
    return;
  }
  self->send(st.config.delivery, post_atom::value,
             job_post{p.id, job_done_url(st.config.settings, p.id), progress_body(p.step, p.steps)});
}

void on_tick(self_pointer self) {
  auto& st = self->state;
  if (st.done) {
    return;
  }
  const bool wants_readiness = !st.ready && !st.stopping;
  const bool wants_progress = !st.running.empty();
  if (wants_readiness || wants_progress) {
    self->request(st.config.health, ask_timeout, report_atom::value)
      .then(
        [self](health_report& h) {
          auto& st = self->state;
          if (!st.ready && !st.stopping && h.model.state == model_state::ready) {
            st.ready = true;
            spdlog::info("model {} ready: taking jobs from {}", h.model.name,
                         url_for_log(job_take_url(st.config.settings, false)));
            self->send(self, take_atom::value);
          } else if (!st.ready && !st.stopping && h.model.state == model_state::failed) {
            spdlog::error("the model failed to load ({}); exiting so that RunPod restarts the worker", h.model.error);
            st.stopping = true;
            st.unfit = true;
            check_done(self);
          }
          post_progress(self, h.current);
        },
        [](caf::error&) {});
  }
  self->delayed_send(self, tick_every, tick_atom::value);
}

} // namespace

poller_actor::behavior_type runpod_poller(poller_actor::stateful_pointer<poller_state> self, poller_config config) {
  self->state.config = std::move(config);
  self->send(self, tick_atom::value);
  return {
    [=](take_atom) { take(self); },
    [=](taken_atom, const http_exchange& answer) { on_taken(self, answer); },
    [=](answered_atom, const job_result& r) { finish(self, r.id, r); },
    [=](tick_atom) { on_tick(self); },
    [=](stop_atom) {
      auto& st = self->state;
      if (st.stop_asked) {
        end_running_jobs(self);
        return;
      }
      st.stop_asked = true;
      if (st.stopping) {
        return;
      }
      st.stopping = true;
      spdlog::info("stopping: no more jobs are taken; {} in flight", st.running.size() + st.delivering.size());
      if (st.take_cancel) {
        st.take_cancel->cancel();
      }
      check_done(self);
    },
  };
}

} // namespace sdw
