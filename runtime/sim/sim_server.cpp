#include "runtime/sim/sim_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <stdexcept>

namespace sdw {
namespace {

/// Reads one request; false when the peer closed first or sent garbage.
bool read_request(int fd, sim_request& r) {
  std::string data;
  char buf[8192];
  size_t header_end;
  while ((header_end = data.find("\r\n\r\n")) == std::string::npos) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0 || data.size() > (1u << 20)) {
      return false;
    }
    data.append(buf, static_cast<size_t>(n));
  }
  const std::string head = data.substr(0, header_end);
  const std::string line = head.substr(0, head.find("\r\n"));
  const size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
  if (sp1 == std::string::npos || sp2 == sp1) {
    return false;
  }
  r.method = line.substr(0, sp1);
  const std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const size_t q = target.find('?');
  r.path = target.substr(0, q);
  r.query = q == std::string::npos ? "" : target.substr(q + 1);
  for (size_t pos = line.size() + 2; pos < head.size();) {
    const size_t end = std::min(head.find("\r\n", pos), head.size());
    const std::string field = head.substr(pos, end - pos);
    const size_t colon = field.find(':');
    if (colon != std::string::npos) {
      std::string name = field.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      const size_t value = field.find_first_not_of(" \t", colon + 1);
      r.headers[name] = value == std::string::npos ? "" : field.substr(value);
    }
    pos = end + 2;
  }
  size_t length = 0;
  if (auto it = r.headers.find("content-length"); it != r.headers.end()) {
    try {
      length = std::stoul(it->second);
    } catch (const std::exception&) {
      return false;
    }
  }
  r.body = data.substr(header_end + 4);
  while (r.body.size() < length) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      return false;
    }
    r.body.append(buf, static_cast<size_t>(n));
  }
  return true;
}

void send_all(int fd, const std::string& out) {
  size_t sent = 0;
  while (sent < out.size()) {
    const ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      return;
    }
    sent += static_cast<size_t>(n);
  }
}

int listen_loopback(int port, int& bound) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 256) != 0) {
    ::close(fd);
    throw std::runtime_error("sim: cannot listen on 127.0.0.1:" + std::to_string(port));
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  bound = ntohs(addr.sin_port);
  return fd;
}

} // namespace

std::string sim_request::param(const std::string& name) const {
  return sim_query_param(query, name);
}

bool sim_request::has_param(const std::string& name) const {
  return ("&" + query).find("&" + name + "=") != std::string::npos;
}

sim_server::sim_server(sim_control_plane& plane, int port, bool record) : plane_(plane), record_(record) {
  listen_fd_ = listen_loopback(port, port_);
  acceptor_ = std::thread([this] { accept_loop(); });
}

sim_server::~sim_server() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    listening_.notify_all();
  }
  plane_.stop();
  ::shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  ::close(listen_fd_);
  std::unique_lock<std::mutex> lock(mutex_);
  idle_.wait(lock, [this] { return open_connections_ == 0; });
}

std::string sim_server::base() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

std::vector<std::pair<std::string, std::string>> sim_server::worker_env(const std::string& pod, int ping_ms,
                                                                        const std::string& endpoint) const {
  const std::string v2 = base() + "/v2/" + endpoint;
  return {{"RUNPOD_WEBHOOK_GET_JOB", v2 + "/job-take/$RUNPOD_POD_ID"},
          {"RUNPOD_WEBHOOK_POST_OUTPUT", v2 + "/job-done/$RUNPOD_POD_ID/$ID?gpu=sim"},
          {"RUNPOD_WEBHOOK_POST_STREAM", v2 + "/job-stream/$RUNPOD_POD_ID/$ID?gpu=sim"},
          {"RUNPOD_WEBHOOK_PING", v2 + "/ping/$RUNPOD_POD_ID"},
          {"RUNPOD_PING_INTERVAL", std::to_string(ping_ms)},
          {"RUNPOD_AI_API_KEY", "sim-key"},
          {"RUNPOD_POD_ID", pod}};
}

std::vector<sim_request> sim_server::requests() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return requests_;
}

void sim_server::restart(std::chrono::milliseconds down) {
  std::unique_lock<std::mutex> lock(mutex_);
  restarting_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  listening_.wait(lock, [this] { return !accepting_; });
  ::close(listen_fd_);
  lock.unlock();
  std::this_thread::sleep_for(down);
  int bound = 0;
  const int fd = listen_loopback(port_, bound);
  lock.lock();
  listen_fd_ = fd;
  restarting_ = false;
  listening_.notify_all();
}

void sim_server::accept_loop() {
  while (!stopping_) {
    int listen_fd;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      accepting_ = !restarting_;
      listening_.notify_all();
      listening_.wait(lock, [this] { return !restarting_ || stopping_; });
      if (stopping_) {
        return;
      }
      accepting_ = true;
      listen_fd = listen_fd_;
    }
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      accepting_ = false;
      listening_.notify_all();
      continue;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    ++open_connections_;
    std::thread([this, fd] {
      serve(fd);
      std::lock_guard<std::mutex> done(mutex_);
      --open_connections_;
      idle_.notify_all();
    }).detach();
  }
}

void sim_server::serve(int fd) {
  sim_request r;
  if (!read_request(fd, r)) {
    ::close(fd);
    return;
  }
  r.at = std::chrono::steady_clock::now();
  const sim_answer a = plane_.handle(r.method, r.path, r.query, r.body);
  if (a.delay_ms > 0 && !stopping_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(a.delay_ms));
  }
  if (a.action == sim_answer::how::reset) {
    // SO_LINGER 0: close() sends a TCP reset instead of a FIN.
    linger l{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  } else if (a.action == sim_answer::how::reply) {
    std::string out = "HTTP/1.1 " + std::to_string(a.status) + " X\r\nConnection: close\r\nContent-Length: " +
                      std::to_string(a.body.size()) + "\r\n";
    if (!a.body.empty()) {
      out += "Content-Type: application/json\r\n";
    }
    send_all(fd, out + "\r\n" + a.body);
  }
  ::close(fd);
  if (record_) {
    r.answered = a.action == sim_answer::how::reply ? a.status : 0;
    std::lock_guard<std::mutex> lock(mutex_);
    requests_.push_back(std::move(r));
  }
}

sim_http_reply sim_http_request(int port, const std::string& method, const std::string& target,
                                const std::string& body) {
  sim_http_reply reply;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return reply;
  }
  send_all(fd, method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" +
                 "Content-Type: application/json\r\nAuthorization: Bearer sim\r\nContent-Length: " +
                 std::to_string(body.size()) + "\r\n\r\n" + body);
  std::string data;
  char buf[8192];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
    data.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  const size_t header_end = data.find("\r\n\r\n");
  if (data.compare(0, 5, "HTTP/") != 0 || header_end == std::string::npos) {
    return reply;
  }
  reply.status = std::stoi(data.substr(data.find(' ') + 1, 3));
  reply.body = data.substr(header_end + 4);
  return reply;
}

} // namespace sdw
