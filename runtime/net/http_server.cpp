#include "runtime/net/http_server.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace sdw {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

/// How long a connection is drained after a refusal before it is closed: closing a socket with
/// unread data resets it, and a client still sending its body would lose the answer.
constexpr auto drain_time = std::chrono::seconds(5);

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

class session;

} // namespace

std::optional<std::string> http_request_in::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (same_name(k, name)) return v;
  }
  return std::nullopt;
}

struct http_server::state {
  state(std::string h, int p, http_server_limits l, http_server_handlers hs)
    : host(std::move(h)), port(p), limits(l), handlers(std::move(hs)) {}

  std::string error_body(int status, const std::string& reason) const {
    if (handlers.error_body) return handlers.error_body(status, reason);
    return "{\"detail\":\"" + reason + "\"}";
  }

  std::string host;
  int port;
  http_server_limits limits;
  http_server_handlers handlers;
  asio::io_context ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::atomic<bool> closed{false};
  int bound_port = 0;
  std::mutex sessions_mutex;
  std::vector<std::weak_ptr<session>> sessions;
};

namespace {

/// One connection: reads a request, hands it on, writes the answer, and reads the next one.
/// Everything runs on the connection's strand; answers from other threads are posted to it.
class session : public std::enable_shared_from_this<session> {
public:
  session(tcp::socket socket, std::shared_ptr<http_server::state> st)
    : st_(std::move(st)), stream_(std::move(socket)) {}

  void start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_header(); });
  }

  /// Closes the connection (when the server closes).
  void shut() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      error_code ec;
      self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
      self->stream_.close();
    });
  }

private:
  const http_server_limits& limits() const { return st_->limits; }

  void read_header() {
    if (st_->closed) return stream_.close();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(limits().max_header_bytes, UINT32_MAX)));
    // The body's size is judged once the header is in and the application has seen it. (Not
    // boost::none: Beast 1.74 then takes every Content-Length for too large.)
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    header_bytes_ = 0;
    stream_.expires_after(limits().read_timeout);
    read_header_part();
  }

  // Beast 1.74 holds each parse step to header_limit but not their sum (many small fields that
  // arrive in pieces pass), so the sum is kept here; the parser stops at the end of the header.
  void read_header_part() {
    bhttp::async_read_some(stream_, buffer_, *parser_, [self = shared_from_this()](error_code ec, std::size_t used) {
      self->on_header_part(ec, used);
    });
  }

  void on_header_part(error_code ec, std::size_t used) {
    if (ec) return refuse_or_close(ec);
    header_bytes_ += used;
    if (header_bytes_ > limits().max_header_bytes) return refuse_or_close(bhttp::error::header_limit);
    if (!parser_->is_header_done()) return read_header_part();
    on_header();
  }

  void on_header() {
    const auto& msg = parser_->get();
    head_ = http_request_in{};
    head_.method = std::string(msg.method_string());
    head_.target = std::string(msg.target());
    for (const auto& field : msg)
      head_.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    version_ = msg.version();
    // An answer to HEAD has no body; rather than track that, such a connection is not reused.
    keep_alive_ = msg.keep_alive() && msg.method() != bhttp::verb::head;
    head_only_ = msg.method() == bhttp::verb::head;

    std::optional<http_response_out> early;
    try {
      if (st_->handlers.on_header) early = st_->handlers.on_header(head_);
    } catch (const std::exception&) {
      early = http_response_out{500, st_->error_body(500, "Internal Server Error")};
    }
    if (early) {
      // The body (if any) stays unread, so the connection cannot carry another request.
      return write(std::move(*early), keep_alive_ && parser_->is_done());
    }
    if (const auto length = parser_->content_length(); length && *length > limits().max_body_bytes) {
      return refuse(413, too_large());
    }
    parser_->body_limit(static_cast<std::uint64_t>(limits().max_body_bytes));
    const auto expect = msg[bhttp::field::expect];
    if (!parser_->is_done() && same_name(std::string_view(expect.data(), expect.size()), "100-continue")) {
      continue_ = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_, version_);
      return bhttp::async_write(stream_, *continue_, [self = shared_from_this()](error_code ec, std::size_t) {
        if (ec) return self->stream_.close();
        self->read_body();
      });
    }
    read_body();
  }

  void read_body() {
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](error_code ec, std::size_t) { self->on_body(ec); });
  }

  void on_body(error_code ec) {
    if (ec) return refuse_or_close(ec);
    // The application may take as long as a job does (long polls); the connection just waits.
    stream_.expires_never();
    http_request_in request = std::move(head_);
    request.body = std::move(parser_->get().body());
    parser_.reset();
    auto answered = std::make_shared<std::atomic<bool>>(false);
    http_respond_fn respond = [self = shared_from_this(), answered](http_response_out out) {
      if (answered->exchange(true) || self->st_->closed) return;
      asio::post(self->stream_.get_executor(),
                 [self, out = std::move(out)]() mutable { self->write(std::move(out), self->keep_alive_); });
    };
    try {
      st_->handlers.on_request(std::move(request), respond);
    } catch (const std::exception&) {
      respond({500, st_->error_body(500, "Internal Server Error")});
    }
  }

  void write(http_response_out out, bool keep_alive) {
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(static_cast<bhttp::status>(out.status), version_);
    res->set(bhttp::field::content_type, out.content_type.empty() ? std::string("application/json") : out.content_type);
    res->keep_alive(keep_alive);
    if (head_only_) {
      res->content_length(out.body.size());
    } else {
      res->body() = std::move(out.body);
      res->prepare_payload();
    }
    // A client that does not read its answer is not waited for forever.
    stream_.expires_after(limits().read_timeout);
    bhttp::async_write(stream_, *res, [self = shared_from_this(), res, keep_alive](error_code ec, std::size_t) {
      if (ec) return self->stream_.close();
      if (!keep_alive) return self->close_after_answer();
      self->read_header();
    });
  }

  std::string too_large() const {
    return "Request body too large: more than " + std::to_string(limits().max_body_bytes) + " bytes";
  }

  void refuse(int status, const std::string& reason) { write({status, st_->error_body(status, reason)}, false); }

  void refuse_or_close(error_code ec) {
    if (ec == bhttp::error::header_limit) {
      return refuse(
        431, "Request header fields too large: more than " + std::to_string(limits().max_header_bytes) + " bytes");
    }
    if (ec == bhttp::error::body_limit) return refuse(413, too_large());
    // Another parse error (a negative or malformed Content-Length, a bad chunk, a bad request
    // line) is the client's; a network error or timeout leaves nobody to answer.
    if (ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category() &&
        ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
      return refuse(400, "Bad request: " + ec.message());
    }
    stream_.close();
  }

  /// Sends FIN, then reads and drops what the client still sends for a while, then closes.
  void close_after_answer() {
    error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(drain_time);
    drain();
  }

  void drain() {
    stream_.async_read_some(asio::buffer(scratch_), [self = shared_from_this()](error_code ec, std::size_t) {
      if (ec) return self->stream_.close();
      self->drain();
    });
  }

  // Declared before the stream, so destroyed after it: a session that outlives its server (an
  // answer function the application still holds) may hold the last reference to the io_context,
  // and the stream's socket and timer must go while the io_context's services still exist.
  std::shared_ptr<http_server::state> st_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::shared_ptr<bhttp::response<bhttp::empty_body>> continue_;
  http_request_in head_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool head_only_ = false;
  std::size_t header_bytes_ = 0;
  std::array<char, 8192> scratch_{};
};

void accept_next(const std::shared_ptr<http_server::state>& st) {
  st->acceptor->async_accept(asio::make_strand(st->ioc), [st](error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || st->closed) return;
    if (ec) {
      // Out of descriptors or the like: try again shortly rather than spin.
      auto timer = std::make_shared<asio::steady_timer>(st->acceptor->get_executor(), std::chrono::milliseconds(100));
      return timer->async_wait([st, timer](error_code) {
        if (!st->closed) accept_next(st);
      });
    }
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto s = std::make_shared<session>(std::move(socket), st);
    {
      std::lock_guard<std::mutex> lock(st->sessions_mutex);
      st->sessions.erase(std::remove_if(st->sessions.begin(), st->sessions.end(),
                                        [](const std::weak_ptr<session>& w) { return w.expired(); }),
                         st->sessions.end());
      st->sessions.push_back(s);
    }
    s->start();
    accept_next(st);
  });
}

} // namespace

http_server::http_server(std::string host, int port, http_server_limits limits, http_server_handlers handlers)
  : state_(std::make_shared<state>(std::move(host), port, limits, std::move(handlers))) {}

http_server::~http_server() { close(); }

void http_server::open() {
  auto& st = *state_;
  const std::string where = st.host + ":" + std::to_string(st.port);
  try {
    tcp::resolver resolver(st.ioc);
    const auto results = resolver.resolve(st.host, std::to_string(st.port), tcp::resolver::passive);
    // "localhost" may resolve to ::1 first; clients of a local worker mostly dial 127.0.0.1.
    auto chosen = results.begin();
    for (auto it = results.begin(); it != results.end(); ++it) {
      if (it->endpoint().address().is_v4()) {
        chosen = it;
        break;
      }
    }
    if (chosen == results.end()) throw std::runtime_error("no address");
    st.acceptor = std::make_unique<tcp::acceptor>(asio::make_strand(st.ioc));
    st.acceptor->open(chosen->endpoint().protocol());
    st.acceptor->set_option(asio::socket_base::reuse_address(true));
    st.acceptor->bind(chosen->endpoint());
    st.acceptor->listen(asio::socket_base::max_listen_connections);
    st.bound_port = st.acceptor->local_endpoint().port();
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot listen on " + where + ": " + e.what());
  }
  st.work.emplace(asio::make_work_guard(st.ioc));
  accept_next(state_);
  for (int i = 0; i < std::max(1, st.limits.threads); ++i) st.threads.emplace_back([s = state_] { s->ioc.run(); });
}

void http_server::close() {
  auto st = state_;
  if (st->closed.exchange(true)) return;
  if (st->acceptor && st->threads.empty()) {
    // Never served (open failed): no thread would run a posted close, and the handler, holding the
    // state that owns the io_context, would keep both alive for good.
    error_code ec;
    st->acceptor->close(ec);
  } else if (st->acceptor) {
    asio::post(st->acceptor->get_executor(), [st] {
      error_code ec;
      st->acceptor->close(ec);
    });
  }
  {
    std::lock_guard<std::mutex> lock(st->sessions_mutex);
    for (auto& w : st->sessions) {
      if (auto s = w.lock()) s->shut();
    }
  }
  st->work.reset();
  // The threads end when the closed connections have finished; a straggler is not waited for long.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!st->threads.empty() && !st->ioc.stopped() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  st->ioc.stop();
  for (auto& t : st->threads) t.join();
  st->threads.clear();
}

int http_server::port() const { return state_->bound_port; }

} // namespace sdw
