#pragma once
/// What the HTTP routes share: the actors they ask, the front door's settings and state, and the
/// request as the routes see it. Used only by the http_* files of the front door.

#define _TURN_OFF_PLATFORM_STRING
#include "actors/http_front.hpp"
#include "runtime/formats/a1111_api.hpp"
#include "runtime/base/json_value.hpp"

#include <caf/scoped_actor.hpp>

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace sdw {

/// One request after the front door has read it: method, path without the `/v2/{endpoint}`
/// prefix, decoded query parameters and body.
struct route_request {
  std::string method;
  std::string path;
  std::map<std::string, std::string> query;
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

/// The actors, settings and mutable state of the front door.
struct front_context {
  caf::actor_system& system;
  scheduler_actor scheduler;
  health_actor health;
  front_door_config config;

  std::mutex mutex;                     ///< guards the members below
  json_object stored_options;           ///< POST /sdapi/v1/options so far
  std::vector<std::string> checkpoints; ///< the last scan of the model folders
  bool scanned = false;

  /// One request to an actor from an HTTP thread: the answer, or nothing with `err` set.
  template <class Answer, class Handle, class Duration, class... Ts>
  std::optional<Answer> ask(const Handle& who, Duration timeout, caf::error& err, Ts&&... xs) {
    caf::scoped_actor self{system};
    std::optional<Answer> out;
    self->request(who, timeout, std::forward<Ts>(xs)...)
      .receive([&](Answer& r) { out = std::move(r); }, [&](caf::error& e) { err = std::move(e); });
    return out;
  }

  /// The health report, or nothing when health does not answer.
  std::optional<health_report> report();
};

/// How long the front door waits for quick answers (status, cancel, health).
constexpr auto quick_timeout = std::chrono::seconds(10);

/// `{"error": message}` with `status`.
http_answer json_error(int status, const std::string& message);

/// FastAPI's answer to a known path asked with the wrong method.
http_answer method_not_allowed();

/// The A1111 routes (/sdapi/v1/...): whether `method path` is one of them.
route_match match_a1111(const std::string& method, const std::string& path);
/// Answers an A1111 route that match_a1111 found.
http_answer serve_a1111(front_context& ctx, const route_request& req);

/// The RunPod-style routes (/run, /runsync, /status, /status-sync, /stream, /cancel, /retry,
/// /purge-queue, /health): whether `method path` is one of them.
route_match match_runpod(const std::string& method, const std::string& path);
/// Answers a RunPod route that match_runpod found.
http_answer serve_runpod(front_context& ctx, const route_request& req);

} // namespace sdw
