// The A1111 routes of the front door (/sdapi/v1/...).
#define _TURN_OFF_PLATFORM_STRING
#include "actors/http_context.hpp"

#include "runtime/formats/a1111_info_api.hpp"
#include "runtime/formats/a1111_options_store.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/base/json_writer.hpp"
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
  {"/sdapi/v1/txt2img", "POST"},  {"/sdapi/v1/samplers", "GET"},  {"/sdapi/v1/schedulers", "GET"},
  {"/sdapi/v1/sd-models", "GET"}, {"/sdapi/v1/options", "GET"},   {"/sdapi/v1/options", "POST"},
  {"/sdapi/v1/progress", "GET"},  {"/sdapi/v1/interrupt", "POST"}, {"/sdapi/v1/skip", "POST"},
  {"/sdapi/v1/memory", "GET"},    {"/sdapi/v1/refresh-checkpoints", "POST"},
};

/// FastAPI's answer to a POST without the body the route requires.
bool body_missing(const std::string& body, http_answer& answer) {
  if (body.find_first_not_of(" \t\r\n") != std::string::npos) {
    return false;
  }
  answer = a1111_error_answer("bad_request", "body", "field required");
  return true;
}

http_answer txt2img(front_context& ctx, const std::string& body) {
  if (http_answer missing; body_missing(body, missing)) {
    return missing;
  }
  try {
    check_txt2img_body(body);
  } catch (const error& e) {
    return a1111_error_answer(to_string(e.code()), e.where(), e.message());
  }
  caf::error err;
  const std::string id = new_job_id("a1111");
  if (!ctx.ask<job_result>(ctx.scheduler, quick_timeout, err, submit_atom::value,
                           generation_job{id, body, job_options{false}, ""})) {
    if (is(err, sd_errc::queue_full)) {
      return a1111_error_answer("queue_full", "",
                                "Service Unavailable: the job queue is full (" +
                                  std::to_string(ctx.config.queue_capacity) + " jobs waiting); retry later");
    }
    return a1111_error_answer("internal", "", ctx.system.render(err));
  }
  auto r = ctx.ask<job_result>(ctx.scheduler, a1111_timeout, err, wait_atom::value, id);
  if (!r) {
    return a1111_error_answer("internal", "", ctx.system.render(err));
  }
  if (r->status == job_status::completed) {
    return {200, std::move(r->output_json)};
  }
  return a1111_error_answer(r->error.kind, r->error.field, r->error.message);
}

/// The loaded checkpoint as a listing (empty path while none is known).
checkpoint_listing loaded_listing(const health_report& h) {
  return {h.model.path, h.model.sha256, h.model.config_path};
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return !a.empty() && !b.empty() && std::filesystem::equivalent(a, b, ec) && !ec;
}

/// Rescans the model folders (and the loaded checkpoint's own folder).
void scan_checkpoints(front_context& ctx, const health_report& h) {
  std::vector<std::string> folders = ctx.config.model_dirs;
  if (!h.model.path.empty()) {
    folders.push_back(std::filesystem::path(h.model.path).parent_path().string());
  }
  auto found = find_checkpoints(folders);
  std::lock_guard<std::mutex> lock(ctx.mutex);
  ctx.checkpoints = std::move(found);
  ctx.scanned = true;
}

http_answer sd_models(front_context& ctx) {
  auto h = ctx.report();
  if (!h) {
    return json_error(500, "health did not answer");
  }
  bool scanned = false;
  {
    std::lock_guard<std::mutex> lock(ctx.mutex);
    scanned = ctx.scanned;
  }
  if (!scanned) {
    scan_checkpoints(ctx, *h);
  }
  std::vector<checkpoint_listing> list;
  bool loaded_listed = false;
  {
    std::lock_guard<std::mutex> lock(ctx.mutex);
    for (const auto& path : ctx.checkpoints) {
      if (same_file(path, h->model.path)) {
        list.push_back(loaded_listing(*h));
        loaded_listed = true;
        continue;
      }
      const auto yaml = std::filesystem::path(path).replace_extension(".yaml");
      std::error_code ec;
      list.push_back({path, "", std::filesystem::exists(yaml, ec) ? yaml.string() : ""});
    }
  }
  if (!loaded_listed && !h->model.path.empty()) {
    list.insert(list.begin(), loaded_listing(*h));
  }
  return {200, sd_models_json(list)};
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

http_answer get_options(front_context& ctx) {
  auto h = ctx.report();
  if (!h) {
    return json_error(500, "health did not answer");
  }
  std::lock_guard<std::mutex> lock(ctx.mutex);
  return {200, options_json(ctx.stored_options, loaded_for_options(*h))};
}

http_answer set_options(front_context& ctx, const std::string& body) {
  if (http_answer missing; body_missing(body, missing)) {
    return missing;
  }
  auto h = ctx.report();
  if (!h) {
    return json_error(500, "health did not answer");
  }
  // Only the loaded checkpoint can be selected: the worker runs one model.
  const std::vector<std::string> names =
    h->model.path.empty() ? std::vector<std::string>{} : checkpoint_aliases(loaded_listing(*h));
  std::lock_guard<std::mutex> lock(ctx.mutex);
  options_post result = post_options(body, ctx.stored_options, names);
  if (result.refused) {
    return *result.refused;
  }
  // The scheduler gives the options to every job that starts after it has them.
  caf::error err;
  if (!ctx.ask<bool>(ctx.scheduler, quick_timeout, err, options_atom::value, to_json(json_value(result.stored)))) {
    return a1111_error_answer("internal", "", ctx.system.render(err));
  }
  ctx.stored_options = std::move(result.stored);
  return {200, "null"};
}

http_answer progress(front_context& ctx) {
  auto h = ctx.report();
  if (!h) {
    return json_error(500, "health did not answer");
  }
  progress_view view;
  if (!h->current.id.empty() && h->queue.in_progress != 0) {
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
    view = make_progress_view(h->current.step, h->current.steps, h->current.iterations, h->current.started_unix_ms,
                              now);
  }
  // A1111's flags outlive the job they stopped, until the next one starts.
  view.interrupted = h->interrupted;
  view.skipped = h->skipped;
  return {200, progress_json(view)};
}

http_answer memory() {
  std::ifstream in("/proc/meminfo");
  std::ostringstream text;
  text << in.rdbuf();
  return {200, memory_json(text.str(), process_rss_bytes())};
}

} // namespace

route_match match_a1111(const std::string& method, const std::string& path) {
  route_match m = route_match::none;
  for (const auto& r : routes) {
    if (path == r.path) {
      if (method == r.method) {
        return route_match::found;
      }
      m = route_match::wrong_method;
    }
  }
  return m;
}

http_answer serve_a1111(front_context& ctx, const route_request& req) {
  const std::string& path = req.path;
  if (path == "/sdapi/v1/txt2img") {
    return txt2img(ctx, req.body);
  }
  if (path == "/sdapi/v1/samplers") {
    return {200, samplers_json()};
  }
  if (path == "/sdapi/v1/schedulers") {
    return {200, schedulers_json()};
  }
  if (path == "/sdapi/v1/sd-models") {
    return sd_models(ctx);
  }
  if (path == "/sdapi/v1/options") {
    return req.get() ? get_options(ctx) : set_options(ctx, req.body);
  }
  if (path == "/sdapi/v1/progress") {
    return progress(ctx);
  }
  if (path == "/sdapi/v1/interrupt" || path == "/sdapi/v1/skip") {
    const bool interrupt = path == "/sdapi/v1/interrupt";
    caf::error err;
    const auto done = interrupt ? ctx.ask<bool>(ctx.scheduler, quick_timeout, err, interrupt_atom::value)
                                : ctx.ask<bool>(ctx.scheduler, quick_timeout, err, skip_atom::value);
    if (!done) {
      return a1111_error_answer("internal", "", ctx.system.render(err));
    }
    return {200, interrupt ? "{}" : "null"};
  }
  if (path == "/sdapi/v1/memory") {
    return memory();
  }
  if (path == "/sdapi/v1/refresh-checkpoints") {
    auto h = ctx.report();
    if (!h) {
      return json_error(500, "health did not answer");
    }
    scan_checkpoints(ctx, *h);
    return {200, "null"};
  }
  return {404, "{\"detail\":\"Not Found\"}"};
}

} // namespace sdw
