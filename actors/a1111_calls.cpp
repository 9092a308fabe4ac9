// The one dispatcher of A1111 calls: the /sdapi/v1 routes of the front door, and the RunPod jobs
// that name an A1111 call, reach the same handlers through it.
#define _TURN_OFF_PLATFORM_STRING
#include "actors/http_context.hpp"

#include "runtime/base/json_writer.hpp"
#include "runtime/runpod/runpod_worker.hpp"

#include <chrono>

namespace sdw {

route_match match_a1111_call(const std::string& method, const std::string& path) {
  const route_match a = match_a1111(method, path);
  const route_match b = match_a1111_listing(method, path);
  if (a == route_match::found || b == route_match::found) {
    return route_match::found;
  }
  return a == route_match::wrong_method || b == route_match::wrong_method ? route_match::wrong_method
                                                                          : route_match::none;
}

void serve_a1111_call(front_context& ctx, const route_request& req, reply_fn reply) {
  if (match_a1111_listing(req.method, req.path) == route_match::found) {
    return serve_a1111_listing(ctx, req, std::move(reply));
  }
  serve_a1111(ctx, req, std::move(reply));
}

void run_a1111_call_job(front_context& ctx, const std::string& id, const a1111_call& call,
                        std::function<void(job_result)> done) {
  const auto started = std::chrono::steady_clock::now();
  reply_fn to_result = [id, started, done](http_answer answer) {
    const handler_result h = handler_result_of(answer.body);
    job_result r;
    r.id = id;
    r.status = h.failed ? job_status::failed : job_status::completed;
    r.output_json = h.output_json;
    if (h.failed) {
      r.error = job_error{errc::internal, "", h.error_text, true};
    }
    r.delay_ms = 0;
    r.execution_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    done(std::move(r));
  };
  route_request req;
  req.method = call.method;
  req.path = call.endpoint;
  req.content_type = "application/json";
  // The handler sends the payload with POST only (a GET has no body).
  if (call.method == "POST") {
    req.body = to_json(call.payload);
  }
  switch (match_a1111_call(req.method, req.path)) {
    case route_match::none:
      return to_result({404, "{\"detail\":\"Not Found\"}"});
    case route_match::wrong_method:
      return to_result(method_not_allowed());
    case route_match::found:
      break;
  }
  serve_a1111_call(ctx, req, std::move(to_result));
}

} // namespace sdw
