// cpprest's U() and platform strings clash with other headers; plain std::string suffices on Linux.
#define _TURN_OFF_PLATFORM_STRING
#include "actors/http_call.hpp"

#include <cpprest/http_client.h>

#include <exception>

namespace sdw {

struct http_cancel::impl {
  pplx::cancellation_token_source source;
};

http_cancel::http_cancel() : impl_(std::make_shared<impl>()) {}
http_cancel::~http_cancel() = default;

void http_cancel::cancel() { impl_->source.cancel(); }

void http_call_async(const std::string& method, const std::string& url, const std::string& authorization,
                     const std::string& body, std::chrono::seconds timeout, std::function<void(http_exchange)> done,
                     http_cancel* cancel, const std::string& request_id) {
  http_call_request request{method, url, {}, body};
  if (!authorization.empty()) {
    request.headers.emplace_back("Authorization", authorization);
  }
  if (!body.empty()) {
    // What RunPod's SDK sends with a job-done or stream post (the body is JSON all the same):
    // the platform is known to take this form.
    request.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    request.headers.emplace_back("charset", "utf-8");
  }
  if (!request_id.empty()) {
    request.headers.emplace_back("X-Request-ID", request_id);
  }
  http_call_async(std::move(request), timeout, std::move(done), cancel);
}

void http_call_async(http_call_request spec, std::chrono::seconds timeout, std::function<void(http_exchange)> done,
                     http_cancel* cancel) {
  namespace http = web::http;
  std::shared_ptr<http::client::http_client> client;
  http::http_request request(spec.method);
  try {
    http::client::http_client_config cfg;
    cfg.set_timeout(timeout);
    client = std::make_shared<http::client::http_client>(web::uri(spec.url), cfg);
    std::string content_type = "application/octet-stream";
    for (auto& [name, value] : spec.headers) {
      if (utility::details::str_iequal(name, "Content-Type")) {
        content_type = value;
      } else {
        request.headers().add(name, value);
      }
    }
    if (!spec.body.empty()) {
      request.set_body(std::move(spec.body), content_type);
    }
  } catch (const std::exception& e) {
    // A malformed URL (an unset template such as JOB_DONE_URL) fails like a refused connection.
    http_exchange out;
    out.failure = e.what();
    done(std::move(out));
    return;
  }
  const pplx::cancellation_token token = cancel != nullptr ? cancel->impl_->source.get_token()
                                                            : pplx::cancellation_token::none();
  // The client is kept alive by the continuations until the answer is read.
  client->request(request, token)
    .then([client, done](pplx::task<http::http_response> answered) {
      http::http_response response = answered.get();
      auto exchange = std::make_shared<http_exchange>();
      exchange->status = static_cast<int32_t>(response.status_code());
      exchange->content_type = response.headers().content_type();
      return response.extract_utf8string(true).then([exchange](std::string text) {
        exchange->body = std::move(text);
        return *exchange;
      });
    })
    .then([client, done](pplx::task<http_exchange> finished) {
      http_exchange out;
      try {
        out = finished.get();
      } catch (const pplx::task_canceled&) {
        out = http_exchange{};
        out.failure = "cancelled";
      } catch (const std::exception& e) {
        out = http_exchange{};
        out.failure = e.what();
      }
      done(std::move(out));
    });
}

} // namespace sdw
