#pragma once
/// The HTTP/1.1 server the front door listens with (Boost.Beast on Asio). It reads each request
/// within limits: the header's size, the body's size (chunked bodies too, counted as they arrive),
/// and a deadline for the whole request. What it cannot read it answers itself at once (400 for a
/// malformed request or Content-Length, 413, 431) and closes the connection; the rest goes to the
/// handlers, which answer when they like, from any thread, while no server thread waits.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sdw {

/// What one request may be.
struct http_server_limits {
  /// The request line and header fields together; more → 431.
  std::size_t max_header_bytes = 16 * 1024;
  /// The body (after chunked decoding); more → 413, before the body is read when Content-Length says so.
  std::size_t max_body_bytes = std::size_t{32} << 20;
  /// A request must arrive whole within this; an idle keep-alive connection is closed after it.
  std::chrono::milliseconds read_timeout{60000};
  /// Threads that run the connections (handlers run on them too, so they must not block).
  int threads = 4;
};

/// A request as read off the wire.
struct http_request_in {
  std::string method;  ///< as sent, e.g. "POST"
  std::string target;  ///< path and query as sent (percent-encoded)
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  ///< empty until the body is read

  /// The first header field named `name` (case-insensitive), if any.
  std::optional<std::string> header(std::string_view name) const;
};

/// An answer: status and body (JSON unless `content_type` says otherwise).
struct http_response_out {
  int status = 200;
  std::string body;
  std::string content_type;  ///< empty: application/json
};

/// Sends the answer to one request; the first call counts, from any thread, at any time (also
/// after the server has closed, when it does nothing).
using http_respond_fn = std::function<void(http_response_out)>;

/// What the server asks the application.
struct http_server_handlers {
  /// With the header read and the body not: an answer here is sent at once and the body is never
  /// read (unknown path, wrong method, missing credentials, ...). Nothing = read the body.
  std::function<std::optional<http_response_out>(const http_request_in& head)> on_header;
  /// With the whole request.
  std::function<void(http_request_in request, http_respond_fn respond)> on_request;
  /// The JSON body of an answer the server gives itself (status 400, 413, 431 or 500; `reason`
  /// says why in words, e.g. "Request body too large: more than 33554432 bytes").
  std::function<std::string(int status, const std::string& reason)> error_body;
};

/// A listening HTTP server.
class http_server {
public:
  http_server(std::string host, int port, http_server_limits limits, http_server_handlers handlers);
  /// Closes it.
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// Binds `host:port` (a name or an address; port 0 = any free port) and starts serving.
  /// Throws std::runtime_error naming the address when it cannot.
  void open();
  /// Stops accepting, closes every connection and joins the threads. Answers given later are dropped.
  void close();
  /// The port it listens on (the chosen one when 0 was asked for).
  int port() const;

  struct state;

private:
  std::shared_ptr<state> state_;
};

} // namespace sdw
