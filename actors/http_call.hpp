#pragma once
/// Outgoing HTTP calls that do not block the caller: the request runs on the HTTP library's
/// threads and `done` is called there with the outcome (actors turn it into a message to themselves).

#include "messages/runpod.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sdw {

/// A request sent exactly as given (an upload to storage, signed over its headers): the client
/// adds only Host (the URL's host, with its port when the URL names one), Content-Length and
/// Connection. A body is sent with the request's own Content-Type header.
struct http_call_request {
  std::string method;
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

/// Cancels a call started with http_call_async (a long poll that should end at shutdown).
class http_cancel {
public:
  http_cancel();
  ~http_cancel();
  /// Ends the call; its `done` still runs, with a failure.
  void cancel();

private:
  friend void http_call_async(http_call_request, std::chrono::seconds, std::function<void(http_exchange)>,
                              http_cancel*);
  struct impl;
  std::shared_ptr<impl> impl_;
};

/// Sends `method` to `url` with `Authorization: <authorization>` (when not empty) and, for a
/// non-empty body, `Content-Type: application/x-www-form-urlencoded` and `charset: utf-8`, as
/// RunPod's SDK sends it, with `X-Request-ID: <request_id>` when given (the job a post is about).
/// `done` gets the status, content type and body, or the failure (connection error, timeout after
/// `timeout`, cancelled).
void http_call_async(const std::string& method, const std::string& url, const std::string& authorization,
                     const std::string& body, std::chrono::seconds timeout, std::function<void(http_exchange)> done,
                     http_cancel* cancel = nullptr, const std::string& request_id = {});

/// Sends `request` as it is; `done` as above.
void http_call_async(http_call_request request, std::chrono::seconds timeout, std::function<void(http_exchange)> done,
                     http_cancel* cancel = nullptr);

} // namespace sdw
