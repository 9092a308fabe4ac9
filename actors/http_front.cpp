// cpprest's U() and platform strings clash with other headers; plain std::string suffices on Linux.
#define _TURN_OFF_PLATFORM_STRING
#include "actors/http_front.hpp"

#include "actors/http_context.hpp"
#include "actors/options_keeper.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/base/unicode_text.hpp"
#include "runtime/net/http_checks.hpp"
#include "runtime/net/http_server.hpp"
#include "runtime/runpod/runpod_api.hpp"

#include <cpprest/uri.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <map>
#include <mutex>

namespace sdw {
namespace {

/// `/v2/{endpoint_id}/run` → `/run`: RunPod's clients put the endpoint id after a base URL.
std::string strip_endpoint_prefix(const std::string& path) {
  const std::string v2 = "/v2/";
  if (path.rfind(v2, 0) != 0) {
    return path;
  }
  const size_t slash = path.find('/', v2.size());
  if (slash == std::string::npos || slash == v2.size()) {
    return path;
  }
  return path.substr(slash);
}

/// The A1111 routes whose body is a JSON model: FastAPI reads and decodes it before the auth
/// dependency runs, and validates it after.
bool a1111_body_route(const route_request& req) {
  return req.post() && (req.path == "/sdapi/v1/txt2img" || req.path == "/sdapi/v1/img2img" ||
                        req.path == "/sdapi/v1/options" || req.path == "/sdapi/v1/png-info" ||
                        req.path == "/sdapi/v1/interrogate" || req.path == "/sdapi/v1/extra-single-image" ||
                        req.path == "/sdapi/v1/extra-batch-images");
}

bool blank(const std::string& body) { return body.find_first_not_of(" \t\r\n") == std::string::npos; }

/// What FastAPI answers for a body that is not UTF-8.
constexpr const char* not_decodable = "There was an error parsing the body";

} // namespace

http_answer json_error(int status, const std::string& message) {
  return {status, "{\"error\":" + json_quote(message, false) + "}"};
}

http_answer method_not_allowed() { return {405, "{\"detail\":\"Method Not Allowed\"}"}; }

void front_context::with_report(const reply_fn& reply, std::function<void(health_report&)> done) {
  ask(health, quick_timeout, [done](health_report& h) { done(h); },
      [reply](caf::error&) { reply(json_error(500, "health did not answer")); }, report_atom::value);
}

bool serial_line::push(std::function<void(std::function<void()>)> work) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (busy_) {
      if (waiting_.size() >= capacity_) return false;
      waiting_.push_back(std::move(work));
      return true;
    }
    busy_ = true;
  }
  run(std::move(work));
  return true;
}

void serial_line::run(std::function<void(std::function<void()>)> work) {
  work([this] { finished(); });
}

void serial_line::finished() {
  std::function<void(std::function<void()>)> next;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (waiting_.empty()) {
      busy_ = false;
      return;
    }
    next = std::move(waiting_.front());
    waiting_.pop_front();
  }
  run(std::move(next));
}

void front_context::with_stored_options(const reply_fn& reply, std::function<void(sdw::options&)> done) {
  ask(options, quick_timeout, [done](sdw::options& o) { done(o); },
      [reply](caf::error&) { reply(json_error(500, "the options keeper did not answer")); }, options_atom::value);
}

void front_context::with_job_settings(const reply_fn& reply, generation_job job,
                                      std::function<void(generation_job&, const error*)> done) {
  ask(
    options, quick_timeout,
    [done](generation_job& ready) {
      if (ready.rejected) {
        const error e(ready.rejected->kind, ready.rejected->field, ready.rejected->message);
        ready.rejected.reset();
        return done(ready, &e);
      }
      done(ready, nullptr);
    },
    [reply](caf::error&) { reply(json_error(500, "the options keeper did not answer")); }, resolve_atom::value,
    std::move(job));
}

options_keeper_actor spawn_options_keeper(caf::actor_system& system, const front_door_config& config) {
  return system.spawn(options_keeper, model_folders{config.models_root}, config.startup_checkpoint);
}

namespace {

/// The requests the front has not answered yet, so that a stopping worker answers each one (its
/// result, or 503), and whether new work is still taken.
class pending_replies : public std::enable_shared_from_this<pending_replies> {
public:
  /// `respond` wrapped: it answers once, whoever comes first (the route or answer_all).
  http_respond_fn track(http_respond_fn respond) {
    auto e = std::make_shared<entry>();
    e->respond = std::move(respond);
    uint64_t id;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      id = next_++;
      open_.emplace(id, e);
    }
    return [self = shared_from_this(), id, e](http_response_out out) {
      if (!e->answered.exchange(true)) {
        e->respond(std::move(out));
      }
      std::lock_guard<std::mutex> lock(self->mutex_);
      self->open_.erase(id);
    };
  }

  size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return open_.size();
  }

  void answer_all(const http_response_out& out) {
    std::map<uint64_t, std::shared_ptr<entry>> open;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      open.swap(open_);
    }
    for (auto& [id, e] : open) {
      if (!e->answered.exchange(true)) {
        e->respond(out);
      }
    }
  }

  std::atomic<bool> refusing{false};

private:
  struct entry {
    std::atomic<bool> answered{false};
    http_respond_fn respond;
  };
  mutable std::mutex mutex_;
  std::map<uint64_t, std::shared_ptr<entry>> open_;
  uint64_t next_ = 0;
};

/// Routes that start work: refused while the worker drains.
bool starts_work(const route_request& req) {
  if (!req.post()) {
    return false;
  }
  for (const char* path : {"/run", "/runsync", "/sdapi/v1/txt2img", "/sdapi/v1/img2img", "/sdapi/v1/extra-single-image",
                           "/sdapi/v1/extra-batch-images"}) {
    if (req.path == path) {
      return true;
    }
  }
  return req.path.rfind("/retry/", 0) == 0;
}

} // namespace

struct http_front::impl {
  std::shared_ptr<front_context> ctx;
  std::unique_ptr<http_server> server;
  std::shared_ptr<pending_replies> pending = std::make_shared<pending_replies>();

  impl(caf::actor_system& system, scheduler_actor scheduler, health_actor health, front_door_config config,
       options_keeper_actor options)
    : ctx(std::make_shared<front_context>(system, scheduler, std::move(health),
                                          options ? options : spawn_options_keeper(system, config), std::move(config))),
      own_options(!options) {}

  ~impl() {
    if (own_options) caf::anon_send_exit(ctx->options, caf::exit_reason::user_shutdown);
  }

  bool own_options;

  /// Fills in the request as the routes see it (all but the body), or answers instead: a Host
  /// that is not this machine's while bound to loopback, an unknown path, a wrong method, a bad query.
  static std::optional<http_answer> read_route(const front_context& ctx, const http_request_in& in, route_request& req,
                                               route_match& a1111) {
    if (is_loopback_host(ctx.config.host) && !is_loopback_host_header(in.header("Host"))) {
      // A web page whose name was made to resolve to 127.0.0.1 (DNS rebinding) sends that name.
      return http_answer{400, "{\"detail\":\"Invalid host header\"}"};
    }
    req.method = in.method;
    req.authorization = in.header("Authorization");
    req.content_type = in.header("Content-Type");
    web::uri uri;
    try {
      uri = web::uri(in.target);
      // Routes decode ids out of the path: a bad escape ("%zz") is the client's error, found here.
      web::uri::decode(uri.path());
    } catch (const std::exception&) {
      return json_error(400, "the request target is not a valid URI");
    }
    // The path stays percent-encoded; ids are decoded where they are read.
    std::string path = strip_endpoint_prefix(uri.path());
    while (path.size() > 1 && path.back() == '/') {
      path.pop_back();
    }
    req.path = path;
    a1111 = match_a1111_call(req.method, path);
    const route_match runpod = match_runpod(req.method, path);
    if (a1111 == route_match::none && runpod == route_match::none) {
      return http_answer{404, "{\"detail\":\"Not Found\"}"};
    }
    if (a1111 != route_match::found && runpod != route_match::found) {
      return method_not_allowed();
    }
    try {
      for (const auto& [k, v] : web::uri::split_query(uri.query())) {
        req.query[web::uri::decode(k)] = web::uri::decode(v);
      }
    } catch (const std::exception& e) {
      return json_error(400, std::string("query: ") + e.what());
    }
    return std::nullopt;
  }

  static bool auth_configured(const front_context& ctx) {
    return !ctx.config.auth.empty() || !ctx.config.api_key.empty();
  }

  /// A1111's basic auth (or the API key as a bearer token): nothing when it passes, else A1111's 401.
  static std::optional<http_answer> a1111_refusal(const front_context& ctx, const route_request& req) {
    if (!auth_configured(ctx) || a1111_listing_open(req.path)) {
      return std::nullopt;
    }
    if (!ctx.config.api_key.empty() && runpod_authorized({}, ctx.config.api_key, req.authorization)) {
      return std::nullopt;
    }
    return check_basic_auth(ctx.config.auth, req.authorization);
  }

  /// With the header read: credentials and the media type, before a byte of the body is read
  /// (except on A1111's body routes, where FastAPI decodes the body first).
  static std::optional<http_answer> on_header(const front_context& ctx, const http_request_in& head) {
    route_request req;
    route_match a1111 = route_match::none;
    if (auto early = read_route(ctx, head, req, a1111)) {
      return early;
    }
    // Cross-site forms can only send form encodings and text/plain; JSON needs a preflight.
    const bool json = is_json_media_type(req.content_type);
    if (a1111 == route_match::found) {
      if (a1111_body_route(req)) {
        return std::nullopt;
      }
      if (auto refused = a1111_refusal(ctx, req)) {
        return refused;
      }
      if (req.post() && !json) {
        return a1111_http_exception(415, "Unsupported Media Type: send application/json");
      }
      return std::nullopt;
    }
    // The monitoring routes follow http.health-access alike.
    const bool open = (req.path == "/health" || req.path == "/metrics") && ctx.config.health_open;
    if (auth_configured(ctx) && !open && !runpod_authorized(ctx.config.auth, ctx.config.api_key, req.authorization)) {
      return http_answer{401, runpod_unauthorized_json()};
    }
    if (req.post() && !json) {
      return json_error(415, "Unsupported Media Type: send the body as application/json");
    }
    return std::nullopt;
  }

  /// With the whole request: A1111's order for its body routes, then the route.
  static void route(front_context& ctx, route_request& req, route_match a1111, const reply_fn& reply) {
    const bool json = is_json_media_type(req.content_type);
    if (a1111 == route_match::found && a1111_body_route(req)) {
      if (json && !unicode::is_valid_utf8(req.body)) {
        return reply(a1111_http_exception(400, not_decodable));
      }
      // FastAPI decodes a JSON body before it runs the auth dependency: malformed JSON is a 422
      // even without credentials, a well-formed body with bad fields a 401.
      bool malformed = false;
      if (json && !blank(req.body)) {
        try {
          parse_json(req.body, "body");
        } catch (const std::exception&) {
          malformed = true;
        }
      }
      if (!malformed) {
        if (auto refused = a1111_refusal(ctx, req)) {
          return reply(*refused);
        }
      }
      // A body of another type reaches pydantic as bytes, which no model takes.
      if (!json && !blank(req.body)) {
        return reply(a1111_error_answer(errc::bad_request, "body", "value is not a valid dict"));
      }
      return serve_a1111_call(ctx, req, reply);
    }
    if (a1111 == route_match::found) {
      return serve_a1111_call(ctx, req, reply);
    }
    if (!unicode::is_valid_utf8(req.body)) {
      return reply(json_error(400, std::string(not_decodable) + ": it is not UTF-8"));
    }
    serve_runpod(ctx, req, reply);
  }

  /// Reads the request and hands it to its route; returns without waiting for either. A route that
  /// throws answers 500 with a short message and an error id; the log has the id and the whole text.
  static void handle(const std::shared_ptr<front_context>& ctx, pending_replies& pending, http_request_in in,
                     http_respond_fn respond) {
    const std::string what = in.method + " " + in.target.substr(0, 200);
    reply_fn reply = [respond = pending.track(std::move(respond))](http_answer out) {
      respond({out.status, std::move(out.body), std::move(out.content_type)});
    };
    route_request req;
    route_match a1111 = route_match::none;
    try {
      if (auto early = read_route(*ctx, in, req, a1111)) {
        return reply(*early);
      }
      if (pending.refusing && starts_work(req)) {
        return reply(json_error(503, "the worker is shutting down"));
      }
      req.body = std::move(in.body);
      route(*ctx, req, a1111, reply);
    } catch (const std::exception& e) {
      const std::string id = new_error_id();
      spdlog::error("{}: {}: {}", id, what, e.what());
      reply(json_error(500, public_error_text(e.what(), id)));
    }
  }
};

http_front::http_front(caf::actor_system& system, scheduler_actor scheduler, health_actor health,
                       front_door_config config, options_keeper_actor options)
  : impl_(new impl(system, std::move(scheduler), std::move(health), std::move(config), std::move(options))) {}

http_front::~http_front() { close(); }

void http_front::open() {
  const auto& config = impl_->ctx->config;
  http_server_limits limits;
  limits.max_body_bytes = config.max_body_bytes;
  http_server_handlers handlers;
  // The handlers hold the context: an answer may come after the front door is closed.
  handlers.on_header = [ctx = impl_->ctx](const http_request_in& head) -> std::optional<http_response_out> {
    auto early = impl::on_header(*ctx, head);
    if (!early) {
      return std::nullopt;
    }
    return http_response_out{early->status, std::move(early->body)};
  };
  handlers.on_request = [ctx = impl_->ctx, pending = impl_->pending](http_request_in in, http_respond_fn respond) {
    impl::handle(ctx, *pending, std::move(in), std::move(respond));
  };
  handlers.error_body = [](int status, const std::string& reason) { return a1111_http_exception(status, reason).body; };
  impl_->server = std::make_unique<http_server>(config.host, config.port, limits, std::move(handlers));
  impl_->server->open();
}

void http_front::close() {
  if (impl_->server) {
    impl_->server->close();
    impl_->server.reset();
  }
}

void http_front::refuse_new_work() { impl_->pending->refusing = true; }

size_t http_front::unanswered() const { return impl_->pending->size(); }

void http_front::end_jobs() {
  auto& ctx = *impl_->ctx;
  ctx.ask(ctx.scheduler, quick_timeout, [](int32_t) {}, [](caf::error&) {}, purge_atom::value);
  ctx.ask(ctx.scheduler, quick_timeout, [](bool) {}, [](caf::error&) {}, interrupt_atom::value);
}

void http_front::answer_unanswered() {
  const http_answer out = json_error(503, "the worker is shutting down");
  impl_->pending->answer_all({out.status, out.body, out.content_type});
}

} // namespace sdw
