// The RunPod-style routes of the front door: the public endpoint API's shapes and statuses, so
// RunPod's own clients (which throw on anything but HTTP 200) work against a local worker.
#define _TURN_OFF_PLATFORM_STRING
#include "actors/http_context.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/runpod/runpod_api.hpp"
#include "runtime/runpod/runpod_worker.hpp"

#include <cpprest/uri.h>

namespace sdw {
namespace {

/// The job routes that take an id: /status/{id}, /cancel/{id}, ...
struct id_route {
  const char* prefix;
  bool get;
  bool post;
};

constexpr id_route id_routes[] = {
  {"/status/", true, true},   {"/status-sync/", true, true}, {"/stream/", true, true},
  {"/cancel/", false, true},  {"/retry/", false, true},
};

/// How long one /stream poll waits for a running job to end: long enough that RunPod's JS SDK,
/// which polls without pause, does not spin; short enough for its timeout.
constexpr auto stream_poll = std::chrono::milliseconds(1000);

runpod_job_view to_view(const job_result& r) {
  runpod_job_view v;
  v.id = r.id;
  v.status = to_string(r.status);
  v.output_json = r.output_json;
  if (r.status == job_status::failed) {
    v.error = r.error.verbatim ? r.error.message : runpod_error_text(r.error.kind, r.error.field, r.error.message);
  }
  v.delay_ms = r.delay_ms;
  v.execution_ms = r.execution_ms;
  return v;
}

std::string queue_full_message(const front_context& ctx) {
  return "Service Unavailable: the job queue is full (" + std::to_string(ctx.config.queue_capacity) +
         " jobs waiting); retry later";
}

/// The error answer for a failed ask about job `id`.
http_answer job_error_answer(const front_context& ctx, const std::string& id, const caf::error& err) {
  if (is(err, sd_errc::unknown_job)) {
    return {404, runpod_job_json({id, to_string(job_status::failed), "", "Job ID not found"})};
  }
  if (is(err, sd_errc::queue_full)) {
    return json_error(503, queue_full_message(ctx));
  }
  if (is(err, sd_errc::not_retryable)) {
    return json_error(400, "job " + id + " cannot be retried: only FAILED or CANCELLED jobs can");
  }
  return json_error(500, ctx.system.render(err));
}

using result_fn = std::function<void(job_result&)>;

/// The job's status, once it is final or `wait` has passed (a long poll parked on an actor).
void status_after(front_context& ctx, const std::string& id, std::chrono::milliseconds wait, const reply_fn& reply,
                  result_fn done) {
  auto failed = [&ctx, id, reply](caf::error& err) { reply(job_error_answer(ctx, id, err)); };
  ctx.ask(
    ctx.scheduler, quick_timeout,
    [&ctx, id, wait, done, failed](job_result& now) {
      if (is_final(now.status) || wait.count() <= 0) {
        return done(now);
      }
      ctx.ask(
        ctx.scheduler, wait, [done](job_result& r) { done(r); },
        // Not final within the wait: the job's current status.
        [&ctx, id, done, failed](caf::error&) {
          ctx.ask(ctx.scheduler, quick_timeout, [done](job_result& r) { done(r); }, failed, status_atom::value, id);
        },
        wait_atom::value, id);
    },
    failed, status_atom::value, id);
}

void submit_run(front_context& ctx, generation_job job, bool sync, int64_t wait_ms, const reply_fn& reply);

void run(front_context& ctx, const route_request& req, bool sync, const reply_fn& reply) {
  int64_t wait_ms = 0;
  try {
    check_runpod_body(req.body);
    if (sync) {
      wait_ms = parse_wait_ms(req.param("wait"), 90000, 1000, 300000);
    }
  } catch (const error& e) {
    if (e.where() == "wait") {
      return reply(json_error(400, e.what()));
    }
    return reply(a1111_error_answer(e.code(), e.where(), e.message()));
  }
  generation_job job{new_job_id(sync ? "sync" : ""), {}, {}, job_options{true}, std::nullopt};
  try {
    const a1111_call call = job_call(req.body);
    if (!is_generation_call(call)) {
      // Any other A1111 call runs now, through the routes' own dispatcher; the job records its answer.
      return run_a1111_call_job(ctx, job.id, call, [&ctx, job, sync, wait_ms, reply](job_result r) {
        generation_job answered = job;
        answered.answered = std::move(r);
        submit_run(ctx, std::move(answered), sync, wait_ms, reply);
      });
    }
    job.request = generation_request_from_call(call);
    check_request_work(job.request, ctx.config.max_megapixel_steps);
  } catch (const error& e) {
    // RunPod takes any job whose input is an object; this one fails when it runs.
    job.rejected = job_error_of(e);
  }
  ctx.with_job_settings(reply, std::move(job), [&ctx, sync, wait_ms, reply](generation_job& ready, const error* e) {
    if (e != nullptr && !ready.rejected) {
      ready.rejected = job_error_of(*e);
    }
    submit_run(ctx, std::move(ready), sync, wait_ms, reply);
  });
}

void submit_run(front_context& ctx, generation_job job, bool sync, int64_t wait_ms, const reply_fn& reply) {
  const std::string id = job.id;
  ctx.ask(
    ctx.scheduler, quick_timeout,
    [&ctx, id, sync, wait_ms, reply](job_result&) {
      if (!sync) {
        return reply({200, runpod_job_json({id, to_string(job_status::in_queue)})});
      }
      status_after(ctx, id, std::chrono::milliseconds(wait_ms), reply,
                   [reply](job_result& done) { reply({200, runpod_job_json(to_view(done))}); });
    },
    [&ctx, id, reply](caf::error& err) { reply(job_error_answer(ctx, id, err)); }, submit_atom::value,
    std::move(job));
}

void health_answer(front_context& ctx, const reply_fn& reply) {
  ctx.with_report(reply, [reply](health_report& h) {
    service_health s;
    s.state = to_string(h.model.state);
    s.load_progress = h.model.progress;
    s.load_stage = h.model.stage;
    s.error = h.model.error;
    s.model_name = h.model.name;
    s.in_queue = h.queue.in_queue;
    s.in_progress = h.queue.in_progress;
    s.capacity = h.queue.capacity;
    s.completed = h.queue.completed;
    s.failed = h.queue.failed;
    s.cancelled = h.queue.cancelled;
    s.retried = h.queue.retried;
    s.current_job = h.current.id;
    s.current_step = h.current.step;
    s.current_steps = h.current.steps;
    for (const auto& d : h.queue.devices) {
      s.devices.push_back(
        device_health{d.name, to_string(d.state), d.speed, d.calibrated_speed, d.running, d.jobs, d.batches, d.images, d.busy_ms,
                      d.model, d.cached_models, d.model_bytes});
    }
    reply({200, health_json(s)});
  });
}

void job_route(front_context& ctx, const route_request& req, const std::string& prefix, const std::string& id,
               const reply_fn& reply) {
  auto answer = [reply](job_result& r) { reply({200, runpod_job_json(to_view(r))}); };
  auto failed = [&ctx, id, reply](caf::error& err) { reply(job_error_answer(ctx, id, err)); };
  if (prefix == "/status/") {
    return ctx.ask(ctx.scheduler, quick_timeout, answer, failed, status_atom::value, id);
  }
  if (prefix == "/status-sync/") {
    int64_t wait_ms = 0;
    try {
      wait_ms = parse_wait_ms(req.param("wait"), 90000, 1000, 300000);
    } catch (const error& e) {
      return reply(json_error(400, e.what()));
    }
    return status_after(ctx, id, std::chrono::milliseconds(wait_ms), reply, answer);
  }
  if (prefix == "/stream/") {
    return status_after(ctx, id, stream_poll, reply,
                        [reply](job_result& r) { reply({200, runpod_stream_json(r.id, to_string(r.status))}); });
  }
  if (prefix == "/cancel/") {
    return ctx.ask(ctx.scheduler, quick_timeout, answer, failed, cancel_atom::value, id);
  }
  ctx.ask(
    ctx.scheduler, quick_timeout, [reply](job_result& r) { reply({200, runpod_job_json({r.id, to_string(r.status)})}); }, failed,
    retry_atom::value, id);
}

} // namespace

route_match match_runpod(const std::string& method, const std::string& path) {
  const bool get = method == "GET", post = method == "POST";
  if (path == "/run" || path == "/runsync" || path == "/purge-queue") {
    return post ? route_match::found : route_match::wrong_method;
  }
  if (path == "/health" || path == "/metrics") {
    return get ? route_match::found : route_match::wrong_method;
  }
  for (const auto& r : id_routes) {
    const std::string prefix = r.prefix;
    if (path.size() > prefix.size() && path.rfind(prefix, 0) == 0 && path.find('/', prefix.size()) == std::string::npos) {
      return (get && r.get) || (post && r.post) ? route_match::found : route_match::wrong_method;
    }
  }
  return route_match::none;
}

void serve_runpod(front_context& ctx, const route_request& req, reply_fn reply) {
  const std::string& path = req.path;
  if (path == "/run" || path == "/runsync") {
    return run(ctx, req, path == "/runsync", reply);
  }
  if (path == "/health") {
    return health_answer(ctx, reply);
  }
  if (path == "/metrics") {
    return metrics_answer(ctx, reply);
  }
  if (path == "/purge-queue") {
    return ctx.ask(
      ctx.scheduler, quick_timeout, [reply](int32_t removed) { reply({200, runpod_purge_json(removed)}); },
      [&ctx, reply](caf::error& err) { reply(json_error(500, ctx.system.render(err))); }, purge_atom::value);
  }
  for (const auto& r : id_routes) {
    const std::string prefix = r.prefix;
    if (path.rfind(prefix, 0) == 0) {
      return job_route(ctx, req, prefix, web::uri::decode(path.substr(prefix.size())), reply);
    }
  }
  reply({404, "{\"detail\":\"Not Found\"}"});
}

} // namespace sdw
