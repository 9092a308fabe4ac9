#pragma once
/// What the HTTP routes share: the actors they ask, the front door's settings, and the request as
/// the routes see it. Used only by the http_* files of the front door. No route waits: each asks
/// actors with continuations and hands its answer to `reply` when it has one, so an HTTP thread is
/// free again as soon as the request is read, however long the job behind it runs.

#define _TURN_OFF_PLATFORM_STRING
#include "actors/http_front.hpp"
#include "runtime/formats/a1111_api.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/base/json_value.hpp"

#include <caf/event_based_actor.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace sdw {

/// One request after the front door has read it: method, path without the `/v2/{endpoint}`
/// prefix, decoded query parameters, the headers the routes look at, and body.
struct route_request {
  std::string method;
  std::string path;
  std::map<std::string, std::string> query;
  std::optional<std::string> authorization;
  std::optional<std::string> content_type;
  std::string body;

  /// Whether the method is GET.
  bool get() const { return method == "GET"; }
  /// Whether the method is POST.
  bool post() const { return method == "POST"; }
  /// A query parameter, if given.
  std::optional<std::string> param(const std::string& name) const {
    auto it = query.find(name);
    return it == query.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
};

/// Whether a path is served, and with which methods.
enum class route_match { none, wrong_method, found };

/// Sends a route's answer to its client; called once, from whichever thread has the answer.
using reply_fn = std::function<void(http_answer)>;

/// Work that runs one piece at a time in arrival order, with at most `capacity` waiting. The
/// extras routes go through one: A1111 runs them one at a time behind its queue lock, and the
/// pixels of many large images at once would take the memory and cores the jobs need.
class serial_line {
public:
  explicit serial_line(std::size_t capacity) : capacity_(capacity) {}
  /// Runs `work` now or after the pieces ahead of it; `work` calls the function it gets exactly
  /// once when it has finished. False (nothing queued) when `capacity` pieces are waiting already.
  bool push(std::function<void(std::function<void()>)> work);
  std::size_t capacity() const { return capacity_; }

private:
  void run(std::function<void(std::function<void()>)> work);
  void finished();

  std::mutex mutex_;
  bool busy_ = false;
  std::deque<std::function<void(std::function<void()>)>> waiting_;
  std::size_t capacity_;
};

/// The actors and settings of the front door. Shared: every pending ask keeps it alive, so a
/// continuation never outlives it.
struct front_context : std::enable_shared_from_this<front_context> {
  front_context(caf::actor_system& sys, scheduler_actor sched, health_actor h, options_keeper_actor opts,
                front_door_config cfg)
    : system(sys), scheduler(std::move(sched)), health(std::move(h)), options(std::move(opts)),
      config(std::move(cfg)) {}

  caf::actor_system& system;
  scheduler_actor scheduler;
  health_actor health;
  options_keeper_actor options;
  front_door_config config;
  serial_line extras_line{64};
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  /// Asks `who` and returns at once: a short-lived actor waits for the answer (up to `timeout`)
  /// and calls `done` with it, or `failed` with the error. Handlers must take the answer's types
  /// as CAF delivers them (e.g. `[](job_result& r)`).
  template <class Handle, class Duration, class Done, class Failed, class... Ts>
  void ask(const Handle& who, Duration timeout, Done done, Failed failed, Ts... xs) {
    // The error handler holds the context: CAF keeps both handlers until one of them has run.
    auto on_error = [failed, keep = shared_from_this()](caf::error& e) { failed(e); };
    system.spawn([=](caf::event_based_actor* self) { self->request(who, timeout, xs...).then(done, on_error); });
  }

  /// Asks health for its report; `done` gets it, or the client gets HTTP 500 when health does not answer.
  void with_report(const reply_fn& reply, std::function<void(health_report&)> done);

  /// Asks the options keeper for the stored A1111 options (on top of the defaults), which a job
  /// coming in now runs with; `done` gets them, or the client gets HTTP 500.
  void with_stored_options(const reply_fn& reply, std::function<void(sdw::options&)> done);

  /// Gives `job` the options it runs with (the stored ones, then its request's override_settings)
  /// and the checkpoint and VAE files they choose. `done` gets the job, and the error an override
  /// or a model name raised (null when none did).
  void with_job_settings(const reply_fn& reply, generation_job job,
                         std::function<void(generation_job&, const error*)> done);
};

/// How long the front door waits for quick answers (status, cancel, health).
constexpr auto quick_timeout = std::chrono::seconds(10);

/// `{"error": message}` with `status`.
http_answer json_error(int status, const std::string& message);

/// FastAPI's answer to a known path asked with the wrong method.
http_answer method_not_allowed();

/// Whether `method path` is in a route table (entries with `path` and `method`): found, known with
/// another method, or unknown.
template <class Table>
route_match match_in(const Table& table, const std::string& method, const std::string& path) {
  route_match m = route_match::none;
  for (const auto& r : table) {
    if (path == r.path) {
      if (method == r.method) {
        return route_match::found;
      }
      m = route_match::wrong_method;
    }
  }
  return m;
}

/// The A1111 routes (/sdapi/v1/...): whether `method path` is one of them.
route_match match_a1111(const std::string& method, const std::string& path);
/// Answers an A1111 route that match_a1111 found.
void serve_a1111(front_context& ctx, const route_request& req, reply_fn reply);

/// The A1111 routes that list what the worker has, refresh lists, and read images
/// (/sdapi/v1/cmd-flags, /upscalers, /prompt-styles, /png-info, the extras, ...): whether `method path` is one.
route_match match_a1111_listing(const std::string& method, const std::string& path);
/// Answers a listing route that match_a1111_listing found.
void serve_a1111_listing(front_context& ctx, const route_request& req, reply_fn reply);
/// Whether a listing route answers without credentials (A1111's Lora routes are outside its auth).
bool a1111_listing_open(const std::string& path);

/// Every A1111 route of both tables: whether `method path` is one of them.
route_match match_a1111_call(const std::string& method, const std::string& path);
/// Answers an A1111 call that match_a1111_call found: the one dispatcher of A1111 calls, used by the
/// /sdapi/v1 routes and by RunPod jobs that name a call (/run, /runsync and `sdworker serve`).
void serve_a1111_call(front_context& ctx, const route_request& req, reply_fn reply);

/// Runs the A1111 call a RunPod job names, other than txt2img and img2img (which are queued), with
/// serve_a1111_call, and gives `done` the job's result as worker-a1111's handler and the RunPod SDK
/// make it of the answer (handler_result_of): COMPLETED with the answer as output, or FAILED with
/// A1111's `error` (verbatim) and the rest as output; an unknown route is FastAPI's 404 answer, a
/// known one with another method its 405. `done` runs on whichever thread has the answer.
void run_a1111_call_job(front_context& ctx, const std::string& id, const a1111_call& call,
                        std::function<void(job_result)> done);

/// The RunPod-style routes (/run, /runsync, /status, /status-sync, /stream, /cancel, /retry,
/// /purge-queue, /health) and /metrics: whether `method path` is one of them.
route_match match_runpod(const std::string& method, const std::string& path);
/// Answers a RunPod route that match_runpod found.
void serve_runpod(front_context& ctx, const route_request& req, reply_fn reply);

/// GET /metrics: the health report in Prometheus' text format (http_metrics.cpp).
void metrics_answer(front_context& ctx, const reply_fn& reply);

} // namespace sdw
