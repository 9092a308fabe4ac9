// cpprest's U() and platform strings clash with other headers; plain std::string suffices on Linux.
#define _TURN_OFF_PLATFORM_STRING
#include "actors/http_front.hpp"

#include "actors/http_context.hpp"
#include "actors/options_keeper.hpp"
#include "runtime/base/json_writer.hpp"

#include <cpprest/http_listener.h>
#include <cpprest/uri.h>
#include <spdlog/spdlog.h>

namespace sdw {
namespace {

namespace http = web::http;
using http::experimental::listener::http_listener;

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

} // namespace

http_answer json_error(int status, const std::string& message) {
  return {status, "{\"error\":" + json_quote(message, false) + "}"};
}

http_answer method_not_allowed() { return {405, "{\"detail\":\"Method Not Allowed\"}"}; }

void front_context::with_report(const reply_fn& reply, std::function<void(health_report&)> done) {
  ask(health, quick_timeout, [done](health_report& h) { done(h); },
      [reply](caf::error&) { reply(json_error(500, "health did not answer")); }, report_atom::value);
}

void front_context::with_stored_options(const reply_fn& reply, std::function<void(sdw::options&)> done) {
  ask(options, quick_timeout, [done](sdw::options& o) { done(o); },
      [reply](caf::error&) { reply(json_error(500, "the options keeper did not answer")); }, options_atom::value);
}

struct http_front::impl {
  std::shared_ptr<front_context> ctx;
  std::unique_ptr<http_listener> listener;

  impl(caf::actor_system& system, scheduler_actor scheduler, health_actor health, front_door_config config)
    : ctx(std::make_shared<front_context>(system, scheduler, std::move(health),
                                          system.spawn(options_keeper), std::move(config))) {}

  ~impl() { caf::anon_send_exit(ctx->options, caf::exit_reason::user_shutdown); }

  /// What the front door answers before any route runs (unknown path, wrong method, too large,
  /// bad query), or nothing when the request goes on to its route.
  std::optional<http_answer> precheck(http::http_request& request, route_request& req, route_match& a1111) const {
    req.method = request.method();
    // relative_uri() keeps the path percent-encoded; ids are decoded where they are read.
    const auto& uri = request.relative_uri();
    std::string path = strip_endpoint_prefix(uri.path());
    while (path.size() > 1 && path.back() == '/') {
      path.pop_back();
    }
    req.path = path;
    a1111 = match_a1111(req.method, path);
    const route_match runpod = match_runpod(req.method, path);
    if (a1111 == route_match::none && runpod == route_match::none) {
      return http_answer{404, "{\"detail\":\"Not Found\"}"};
    }
    if (a1111 != route_match::found && runpod != route_match::found) {
      return method_not_allowed();
    }
    const auto& headers = request.headers();
    if (headers.has(http::header_names::content_length) &&
        headers.content_length() > static_cast<utility::size64_t>(ctx->config.max_body_bytes)) {
      return body_too_large(*ctx);
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

  /// Runs the route once the body is read. Static: it may run after the front door is closed,
  /// on the shared context the continuation holds.
  static void route(front_context& ctx, const http::http_request& request, const route_request& req,
                    route_match a1111, const reply_fn& reply) {
    if (req.body.size() > ctx.config.max_body_bytes) {
      return reply(body_too_large(ctx));
    }
    if (a1111 != route_match::found) {
      return serve_runpod(ctx, req, reply);
    }
    if (!ctx.config.auth.empty()) {
      // FastAPI decodes a JSON body before it runs the auth dependency: malformed JSON is a 422
      // even without credentials, a well-formed body with bad fields a 401.
      bool malformed = false;
      if (req.post() && !req.body.empty()) {
        try {
          parse_json(req.body, "body");
        } catch (const std::exception&) {
          malformed = true;
        }
      }
      if (!malformed) {
        std::optional<std::string> authorization;
        const auto& headers = request.headers();
        if (headers.has(http::header_names::authorization)) {
          authorization = headers.find(http::header_names::authorization)->second;
        }
        if (auto refused = check_basic_auth(ctx.config.auth, authorization)) {
          return reply(*refused);
        }
      }
    }
    serve_a1111(ctx, req, reply);
  }

  static http_answer body_too_large(const front_context& ctx) {
    return {413, "{\"error\":\"HTTPException\",\"detail\":\"Request body too large: more than " +
                   std::to_string(ctx.config.max_body_bytes) + " bytes\",\"body\":\"\",\"errors\":\"\"}"};
  }

  /// Reads the request and hands it to its route; returns without waiting for either.
  void handle(http::http_request request) {
    const std::string what = request.method() + " " + request.relative_uri().to_string();
    reply_fn reply = [request, what](http_answer out) mutable {
      request.reply(static_cast<http::status_code>(out.status), out.body, "application/json")
        .then([](pplx::task<void> t) {
          try {
            t.get();
          } catch (const std::exception&) {
            // The client went away; nothing to do.
          }
        });
    };
    // A route that throws answers 500 with the message, wherever it runs.
    auto guarded = [what, reply](auto&& step) {
      try {
        step();
        return true;
      } catch (const std::exception& e) {
        spdlog::error("{}: {}", what, e.what());
        reply(json_error(500, e.what()));
        return false;
      }
    };
    auto req = std::make_shared<route_request>();
    route_match a1111 = route_match::none;
    std::optional<http_answer> early;
    if (!guarded([&] { early = precheck(request, *req, a1111); })) {
      return;
    }
    if (early) {
      return reply(*early);
    }
    if (!req->post()) {
      guarded([&] { route(*ctx, request, *req, a1111, reply); });
      return;
    }
    request.extract_utf8string(true).then([keep = ctx, request, req, a1111, reply, guarded](pplx::task<std::string> body) {
      guarded([&] {
        req->body = body.get();
        route(*keep, request, *req, a1111, reply);
      });
    });
  }
};

http_front::http_front(caf::actor_system& system, scheduler_actor scheduler, health_actor health,
                       front_door_config config)
  : impl_(new impl(system, std::move(scheduler), std::move(health), std::move(config))) {}

http_front::~http_front() {
  try {
    close();
  } catch (const std::exception&) {
    // Closing a listener that failed to open.
  }
}

void http_front::open() {
  const std::string url = "http://" + impl_->ctx->config.host + ":" + std::to_string(impl_->ctx->config.port);
  impl_->listener = std::make_unique<http_listener>(url);
  auto* me = impl_.get();
  impl_->listener->support([me](http::http_request request) { me->handle(std::move(request)); });
  impl_->listener->open().wait();
}

void http_front::close() {
  if (impl_->listener) {
    impl_->listener->close().wait();
    impl_->listener.reset();
  }
}

} // namespace sdw
