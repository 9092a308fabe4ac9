// cpprest's U() and platform strings clash with other headers; plain std::string suffices on Linux.
#define _TURN_OFF_PLATFORM_STRING
#include "actors/http_front.hpp"

#include "runtime/a1111_api.hpp"
#include "runtime/errors.hpp"
#include "runtime/json_writer.hpp"
#include "runtime/runpod_api.hpp"

#include <caf/scoped_actor.hpp>
#include <cpprest/http_listener.h>
#include <cpprest/uri.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <optional>

namespace sdw {
namespace {

namespace http = web::http;
using http::experimental::listener::http_listener;

/// How long the front door waits for quick answers (status, cancel, health).
constexpr auto ask_timeout = std::chrono::seconds(10);
/// How long an A1111 request waits for its images.
constexpr auto a1111_timeout = std::chrono::seconds(24 * 3600);

runpod_job_view to_view(const job_result& r) {
  runpod_job_view v;
  v.id = r.id;
  v.status = r.status;
  v.output_json = r.output_json;
  if (r.status == job_status::failed) {
    v.error = runpod_error_text(r.error.kind, r.error.field, r.error.message);
  }
  v.delay_ms = r.delay_ms;
  v.execution_ms = r.execution_ms;
  return v;
}

http_answer json_error(int status, const std::string& message) {
  return {status, "{\"error\":" + json_quote(message, false) + "}"};
}

} // namespace

struct http_front::impl {
  caf::actor_system& system;
  scheduler_actor scheduler;
  health_actor health;
  front_door_config config;
  std::unique_ptr<http_listener> listener;

  /// One request to an actor from this (non-actor) thread: the answer, or the error.
  template <class Handle, class Duration, class... Ts>
  std::optional<job_result> ask(const Handle& who, Duration timeout, caf::error& err, Ts&&... xs) {
    caf::scoped_actor self{system};
    std::optional<job_result> out;
    self->request(who, timeout, std::forward<Ts>(xs)...)
      .receive([&](job_result& r) { out = std::move(r); }, [&](caf::error& e) { err = std::move(e); });
    return out;
  }

  std::optional<health_report> report() {
    caf::scoped_actor self{system};
    std::optional<health_report> out;
    self->request(health, ask_timeout, report_atom::value)
      .receive([&](health_report& r) { out = std::move(r); }, [&](caf::error&) {});
    return out;
  }

  std::string queue_full_message() const {
    return "Service Unavailable: the job queue is full (" + std::to_string(config.queue_capacity) +
           " jobs waiting); retry later";
  }

  http_answer txt2img(const std::string& body) {
    try {
      check_txt2img_body(body);
    } catch (const error& e) {
      return a1111_error_answer(to_string(e.code()), e.where(), e.message());
    }
    caf::error err;
    const std::string id = new_job_id("a1111");
    if (!ask(scheduler, ask_timeout, err, submit_atom::value, generation_job{id, body, job_options{false}})) {
      if (is(err, sd_errc::queue_full)) {
        return a1111_error_answer("queue_full", "", queue_full_message());
      }
      return a1111_error_answer("internal", "", system.render(err));
    }
    auto r = ask(scheduler, a1111_timeout, err, wait_atom::value, id);
    if (!r) {
      return a1111_error_answer("internal", "", system.render(err));
    }
    if (r->status == job_status::completed) {
      return {200, std::move(r->output_json)};
    }
    return a1111_error_answer(r->error.kind, r->error.field, r->error.message);
  }

  http_answer sd_models() {
    auto h = report();
    if (!h) {
      return json_error(500, "health did not answer");
    }
    if (h->model.path.empty()) {
      return {200, "[]"};
    }
    return {200, sd_models_json({{h->model.path, h->model.sha256, h->model.config_path}})};
  }

  http_answer health_answer() {
    auto h = report();
    if (!h) {
      return json_error(500, "health did not answer");
    }
    service_health s;
    s.state = h->model.state;
    s.load_progress = h->model.progress;
    s.load_stage = h->model.stage;
    s.error = h->model.error;
    s.model_name = h->model.name;
    s.in_queue = h->queue.in_queue;
    s.in_progress = h->queue.in_progress;
    s.capacity = h->queue.capacity;
    s.completed = h->queue.completed;
    s.failed = h->queue.failed;
    s.cancelled = h->queue.cancelled;
    s.current_job = h->current.id;
    s.current_step = h->current.step;
    s.current_steps = h->current.steps;
    return {200, health_json(s)};
  }

  http_answer run(const std::string& body, bool sync, const std::optional<std::string>& wait) {
    try {
      check_runpod_body(body);
    } catch (const error& e) {
      return a1111_error_answer(to_string(e.code()), e.where(), e.message());
    }
    caf::error err;
    const std::string id = new_job_id(sync ? "sync" : "");
    auto submitted = ask(scheduler, ask_timeout, err, submit_atom::value, generation_job{id, body, job_options{true}});
    if (!submitted) {
      return is(err, sd_errc::queue_full) ? json_error(503, queue_full_message()) : json_error(500, system.render(err));
    }
    if (!sync) {
      return {200, runpod_job_json({id, job_status::in_queue})};
    }
    auto done = ask(scheduler, std::chrono::milliseconds(runsync_wait_ms(wait)), err, wait_atom::value, id);
    if (!done) {
      // Not finished within the wait: RunPod answers with the job's current status.
      done = ask(scheduler, ask_timeout, err, status_atom::value, id);
    }
    if (!done) {
      return json_error(500, system.render(err));
    }
    return {200, runpod_job_json(to_view(*done))};
  }

  http_answer job_call(bool cancel, const std::string& id) {
    caf::error err;
    auto r = cancel ? ask(scheduler, ask_timeout, err, cancel_atom::value, id)
                    : ask(scheduler, ask_timeout, err, status_atom::value, id);
    if (!r) {
      if (is(err, sd_errc::unknown_job)) {
        return {404, runpod_job_json({id, job_status::failed, "", "Job ID not found"})};
      }
      return json_error(500, system.render(err));
    }
    return {200, runpod_job_json(to_view(*r))};
  }

  http_answer route(const http::method& method, std::string path, const std::string& query, const std::string& body) {
    while (path.size() > 1 && path.back() == '/') {
      path.pop_back();
    }
    const bool get = method == http::methods::GET, post = method == http::methods::POST;
    if (path == "/sdapi/v1/txt2img" && post) {
      return txt2img(body);
    }
    if (path == "/sdapi/v1/samplers" && get) {
      return {200, samplers_json()};
    }
    if (path == "/sdapi/v1/sd-models" && get) {
      return sd_models();
    }
    if (path == "/health" && get) {
      return health_answer();
    }
    if ((path == "/run" || path == "/runsync") && post) {
      std::optional<std::string> wait;
      const auto params = web::uri::split_query(query);
      if (auto it = params.find("wait"); it != params.end()) {
        wait = it->second;
      }
      return run(body, path == "/runsync", wait);
    }
    const std::string status_prefix = "/status/", cancel_prefix = "/cancel/";
    if (path.rfind(status_prefix, 0) == 0 && (get || post) && path.size() > status_prefix.size()) {
      return job_call(false, web::uri::decode(path.substr(status_prefix.size())));
    }
    if (path.rfind(cancel_prefix, 0) == 0 && post && path.size() > cancel_prefix.size()) {
      return job_call(true, web::uri::decode(path.substr(cancel_prefix.size())));
    }
    return {404, "{\"detail\":\"Not Found\"}"};
  }

  void handle(http::http_request request) {
    http_answer answer;
    try {
      std::string body;
      if (request.method() == http::methods::POST) {
        body = request.extract_utf8string(true).get();
      }
      // relative_uri() keeps the path percent-encoded; ids are decoded where they are read.
      const auto& uri = request.relative_uri();
      answer = route(request.method(), uri.path(), uri.query(), body);
    } catch (const std::exception& e) {
      spdlog::error("{} {}: {}", request.method(), request.relative_uri().to_string(), e.what());
      answer = json_error(500, e.what());
    }
    request.reply(static_cast<http::status_code>(answer.status), answer.body, "application/json").then(
      [](pplx::task<void> t) {
        try {
          t.get();
        } catch (const std::exception&) {
          // The client went away; nothing to do.
        }
      });
  }
};

http_front::http_front(caf::actor_system& system, scheduler_actor scheduler, health_actor health,
                       front_door_config config)
  : impl_(new impl{system, std::move(scheduler), std::move(health), std::move(config), nullptr}) {}

http_front::~http_front() {
  try {
    close();
  } catch (const std::exception&) {
    // Closing a listener that failed to open.
  }
}

void http_front::open() {
  const std::string url = "http://" + impl_->config.host + ":" + std::to_string(impl_->config.port);
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
