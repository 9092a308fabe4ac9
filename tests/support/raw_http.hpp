#pragma once
// HTTP over a plain socket, for requests no HTTP client library would send (bad Content-Length,
// huge headers, chunked bodies cut short) and for timing how soon an answer comes.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace sdw::test {

/// What came back: the status (0 = none), the header block, the body (as far as Content-Length
/// says, or up to the close), whether the server closed the connection, and how long it took.
struct raw_reply {
  int status = 0;
  std::string head;
  std::string body;
  bool closed = false;
  bool continued = false;  ///< a "100 Continue" came before the answer
  double seconds = 0;
};

/// Connects to 127.0.0.1:`port`, sends `request` (`more` afterwards, unless the answer came first),
/// and reads one answer, giving up after `limit`.
inline raw_reply raw_http(int port, const std::string& request,
                          std::chrono::milliseconds limit = std::chrono::seconds(10), const std::string& more = "") {
  const auto t0 = std::chrono::steady_clock::now();
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot connect to port " + std::to_string(port));
  }
  auto left = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(limit - (std::chrono::steady_clock::now() - t0))
      .count();
  };
  std::string in;
  raw_reply r;
  // Whether a whole answer is in `in` (header and Content-Length bytes of body).
  auto complete = [&] {
    // An interim answer (100 Continue) is noted and dropped.
    while (in.rfind("HTTP/1.1 1", 0) == 0 && in.find("\r\n\r\n") != std::string::npos) {
      r.continued = true;
      in.erase(0, in.find("\r\n\r\n") + 4);
    }
    const size_t end = in.find("\r\n\r\n");
    if (end == std::string::npos) return false;
    const std::string head = in.substr(0, end);
    size_t length = 0;
    for (const char* name : {"Content-Length:", "content-length:"}) {
      if (const size_t at = head.find(name); at != std::string::npos)
        length = std::strtoul(head.c_str() + at + 15, nullptr, 10);
    }
    return in.size() >= end + 4 + length;
  };
  auto read_some = [&](int wait_ms) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, wait_ms) <= 0) return;
    char buf[65536];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      r.closed = true;
    } else {
      in.append(buf, static_cast<size_t>(n));
    }
  };
  // Sends while reading, so a server that answers early (and stops reading) does not block us.
  for (const std::string* part : {&request, &more}) {
    size_t sent = 0;
    while (sent < part->size() && !r.closed && !complete() && left() > 0) {
      pollfd p{fd, POLLOUT | POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(std::max<long long>(1, left()))) <= 0) break;
      if (p.revents & POLLIN) read_some(0);
      if (p.revents & POLLOUT) {
        const ssize_t n = ::send(fd, part->data() + sent, part->size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<size_t>(n);
      }
      if (p.revents & (POLLERR | POLLHUP)) break;
    }
  }
  while (!complete() && !r.closed && left() > 0) read_some(static_cast<int>(left()));
  ::close(fd);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const size_t end = in.find("\r\n\r\n");
  if (in.rfind("HTTP/1.", 0) == 0 && in.size() > 12) r.status = std::atoi(in.c_str() + 9);
  r.head = in.substr(0, end);
  if (end != std::string::npos) r.body = in.substr(end + 4);
  return r;
}

} // namespace sdw::test
