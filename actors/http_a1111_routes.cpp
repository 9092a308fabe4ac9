// The A1111 routes of the front door (/sdapi/v1/...).
#define _TURN_OFF_PLATFORM_STRING
#include "actors/http_context.hpp"

#include "runtime/formats/a1111_info_api.hpp"
#include "runtime/formats/a1111_options_store.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/runpod/runpod_api.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace sdw {
namespace {

/// How long an A1111 request waits for its images.
constexpr auto a1111_timeout = std::chrono::seconds(24 * 3600);

struct a1111_route {
  const char* path;
  const char* method;
};

constexpr a1111_route routes[] = {
  {"/sdapi/v1/txt2img", "POST"},  {"/sdapi/v1/img2img", "POST"},  {"/sdapi/v1/samplers", "GET"},  {"/sdapi/v1/schedulers", "GET"},
  {"/sdapi/v1/sd-models", "GET"}, {"/sdapi/v1/options", "GET"},   {"/sdapi/v1/options", "POST"},
  {"/sdapi/v1/progress", "GET"},  {"/sdapi/v1/interrupt", "POST"}, {"/sdapi/v1/skip", "POST"},
  {"/sdapi/v1/memory", "GET"},    {"/sdapi/v1/refresh-checkpoints", "POST"},
};

/// FastAPI's answer to a POST without the body the route requires.
bool body_missing(const std::string& body, http_answer& answer) {
  if (body.find_first_not_of(" \t\r\n") != std::string::npos) {
    return false;
  }
  answer = a1111_error_answer(errc::bad_request, "body", "field required");
  return true;
}

/// Queues a checked request and answers when it is final.
void submit_generation(front_context& ctx, generation_job job, const reply_fn& reply) {
  const std::string id = job.id;
  auto internal = [&ctx, reply](caf::error& err) {
    reply(a1111_error_answer(errc::internal, "", ctx.system.render(err)));
  };
  ctx.ask(
    ctx.scheduler, quick_timeout,
    [&ctx, id, reply, internal](job_result&) {
      // Queued: the answer comes when the job is final, on another short-lived actor.
      ctx.ask(
        ctx.scheduler, a1111_timeout,
        [reply](job_result& r) {
          if (r.status == job_status::completed) {
            return reply({200, std::move(r.output_json)});
          }
          reply(a1111_error_answer(r.error.kind, r.error.field, r.error.message));
        },
        internal, wait_atom::value, id);
    },
    [&ctx, reply, internal](caf::error& err) {
      if (is(err, sd_errc::queue_full)) {
        return reply(a1111_error_answer(errc::queue_full, "",
                                        "Service Unavailable: the job queue is full (" +
                                          std::to_string(ctx.config.queue_capacity) +
                                          " jobs waiting); retry later"));
      }
      internal(err);
    },
    submit_atom::value, std::move(job));
}

void generation(front_context& ctx, const std::string& body, request_kind kind, const reply_fn& reply) {
  if (http_answer missing; body_missing(body, missing)) {
    return reply(missing);
  }
  generation_job job{new_job_id("a1111"), {}, {}, job_options{false}, std::nullopt};
  try {
    job.request = check_generation_body(body, kind);
    check_request_work(job.request, ctx.config.max_megapixel_steps);
  } catch (const error& e) {
    return reply(a1111_error_answer(e.code(), e.where(), e.message()));
  }
  ctx.with_job_settings(reply, std::move(job), [&ctx, reply](generation_job& ready, const error* e) {
    if (e != nullptr) {
      return reply(a1111_error_answer(e->code(), e->where(), e->message()));
    }
    submit_generation(ctx, std::move(ready), reply);
  });
}

void sd_models(front_context& ctx, bool rescan, const reply_fn& reply) {
  ctx.ask(
    ctx.options, quick_timeout,
    [reply, rescan](std::string& json) { reply({200, rescan ? std::string("null") : std::move(json)}); },
    [reply](caf::error&) { reply(json_error(500, "the options keeper did not answer")); }, checkpoints_atom::value,
    rescan);
}

loaded_checkpoint loaded_for_options(const health_report& h) {
  loaded_checkpoint c;
  if (h.model.path.empty()) {
    return c;
  }
  const std::string file = std::filesystem::path(h.model.path).filename().string();
  c.title = h.model.sha256.size() >= 10 ? file + " [" + h.model.sha256.substr(0, 10) + "]" : file;
  c.sha256 = h.model.sha256;
  return c;
}

void get_options(front_context& ctx, const reply_fn& reply) {
  ctx.with_report(reply, [&ctx, reply](health_report& h) {
    const loaded_checkpoint loaded = loaded_for_options(h);
    ctx.ask(
      ctx.options, quick_timeout, [reply](std::string& json) { reply({200, std::move(json)}); },
      [reply](caf::error&) { reply(json_error(500, "the options keeper did not answer")); }, caf::get_atom::value,
      loaded.title, loaded.sha256);
  });
}

void set_options(front_context& ctx, const std::string& body, const reply_fn& reply) {
  if (http_answer missing; body_missing(body, missing)) {
    return reply(missing);
  }
  // The keeper checks a checkpoint named against the models folder.
  ctx.ask(
    ctx.options, quick_timeout,
    [reply](int32_t status, std::string& answer) { reply({static_cast<int>(status), std::move(answer)}); },
    [&ctx, reply](caf::error& err) { reply(a1111_error_answer(errc::internal, "", ctx.system.render(err))); },
    options_atom::value, body);
}

void progress(front_context& ctx, const reply_fn& reply) {
  ctx.with_report(reply, [reply](health_report& h) {
    progress_view view;
    if (!h.current.id.empty() && h.queue.in_progress != 0) {
      const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
      view = make_progress_view(h.current.step, h.current.steps, h.current.iterations, h.current.started_unix_ms,
                                now);
    }
    // A1111's flags outlive the job they stopped, until the next one starts.
    view.interrupted = h.interrupted;
    view.skipped = h.skipped;
    reply({200, progress_json(view)});
  });
}

http_answer memory() {
  std::ifstream in("/proc/meminfo");
  std::ostringstream text;
  text << in.rdbuf();
  return {200, memory_json(text.str(), process_rss_bytes())};
}

} // namespace

route_match match_a1111(const std::string& method, const std::string& path) {
  return match_in(routes, method, path);
}

void serve_a1111(front_context& ctx, const route_request& req, reply_fn reply) {
  const std::string& path = req.path;
  if (path == "/sdapi/v1/txt2img") {
    return generation(ctx, req.body, request_kind::txt2img, reply);
  }
  if (path == "/sdapi/v1/img2img") {
    return generation(ctx, req.body, request_kind::img2img, reply);
  }
  if (path == "/sdapi/v1/samplers") {
    return reply({200, samplers_json()});
  }
  if (path == "/sdapi/v1/schedulers") {
    return reply({200, schedulers_json()});
  }
  if (path == "/sdapi/v1/sd-models") {
    return sd_models(ctx, false, reply);
  }
  if (path == "/sdapi/v1/options") {
    return req.get() ? get_options(ctx, reply) : set_options(ctx, req.body, reply);
  }
  if (path == "/sdapi/v1/progress") {
    return progress(ctx, reply);
  }
  if (path == "/sdapi/v1/interrupt" || path == "/sdapi/v1/skip") {
    const bool interrupt = path == "/sdapi/v1/interrupt";
    auto done = [reply, interrupt](bool) { reply({200, interrupt ? "{}" : "null"}); };
    auto failed = [&ctx, reply](caf::error& err) { reply(a1111_error_answer(errc::internal, "", ctx.system.render(err))); };
    if (interrupt) {
      return ctx.ask(ctx.scheduler, quick_timeout, done, failed, interrupt_atom::value);
    }
    return ctx.ask(ctx.scheduler, quick_timeout, done, failed, skip_atom::value);
  }
  if (path == "/sdapi/v1/memory") {
    return reply(memory());
  }
  if (path == "/sdapi/v1/refresh-checkpoints") {
    return sd_models(ctx, true, reply);
  }
  reply({404, "{\"detail\":\"Not Found\"}"});
}

} // namespace sdw
