#pragma once
// A fake RunPod control plane on loopback for testing `sdworker serve` end to end: job-take
// hands out queued jobs (204 when none after a short long-poll, or 429/400 when told), job-done
// records every post with its headers (and can fail the next ones with HTTP 500 or by resetting
// the connection without an answer), ping records its query strings. A plain socket server, one
// thread per connection, so that a reset is a real TCP RST.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace sdw::test {

/// One request the fake received.
struct fake_request {
  std::string method;
  std::string path;
  std::string query;                          ///< without the `?`
  std::map<std::string, std::string> headers;  ///< names in lower case
  std::string body;
  int answered = 0;  ///< the status sent back; 0 = the connection was reset instead
  std::chrono::steady_clock::time_point at;

  /// A query parameter's raw value, or "" when absent.
  std::string param(const std::string& name) const {
    size_t pos = 0;
    while (pos <= query.size()) {
      const size_t end = std::min(query.find('&', pos), query.size());
      const std::string kv = query.substr(pos, end - pos);
      const size_t eq = kv.find('=');
      if (kv.substr(0, eq) == name) {
        return eq == std::string::npos ? "" : kv.substr(eq + 1);
      }
      pos = end + 1;
    }
    return "";
  }
  bool has_param(const std::string& name) const {
    return ("&" + query).find("&" + name + "=") != std::string::npos;
  }
};

class fake_runpod {
public:
  /// How a failing job-done post fails.
  enum class failure { http_500, reset };

  fake_runpod() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 64) != 0) {
      throw std::runtime_error("fake_runpod: cannot listen on loopback");
    }
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~fake_runpod() {
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
    cv_.notify_all();
    acceptor_.join();
    std::vector<std::thread> conns;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      conns = std::move(connections_);
    }
    for (auto& t : conns) {
      t.join();
    }
  }

  fake_runpod(const fake_runpod&) = delete;
  fake_runpod& operator=(const fake_runpod&) = delete;

  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }

  /// The RunPod variables pointing a worker at this fake (templates as sls-local-server has them).
  std::vector<std::pair<std::string, std::string>> env(const std::string& key = "rp-test-key",
                                                       const std::string& pod = "pod-1",
                                                       int ping_ms = 300) const {
    return {{"RUNPOD_WEBHOOK_GET_JOB", base() + "/v2/ep/job-take/$RUNPOD_POD_ID"},
            {"RUNPOD_WEBHOOK_POST_OUTPUT", base() + "/v2/ep/job-done/$RUNPOD_POD_ID/$ID?gpu=cpu"},
            {"RUNPOD_WEBHOOK_PING", base() + "/v2/ep/ping/$RUNPOD_POD_ID"},
            {"RUNPOD_PING_INTERVAL", std::to_string(ping_ms)},
            {"RUNPOD_AI_API_KEY", key},
            {"RUNPOD_POD_ID", pod}};
  }

  /// Queues a job: `input_json` becomes the job's `input`.
  void add_job(const std::string& id, const std::string& input_json) {
    add_raw_job("{\"id\":\"" + id + "\",\"input\":" + input_json + "}");
  }
  /// Queues a job object as given.
  void add_raw_job(const std::string& job_json) {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.push_back(job_json);
    cv_.notify_all();
  }

  /// The next `n` job-takes answer `status` (429, 400, ...) with no job.
  void answer_next_takes(int status, int n) {
    std::lock_guard<std::mutex> lock(mutex_);
    take_status_ = status;
    take_override_ = n;
  }

  /// The next `n` job-done posts fail as `how`.
  void fail_next_done(failure how, int n) {
    std::lock_guard<std::mutex> lock(mutex_);
    done_failure_ = how;
    done_failures_ = n;
  }

  std::vector<fake_request> takes() const { return recorded("job-take"); }
  std::vector<fake_request> done_posts() const { return recorded("job-done"); }
  std::vector<fake_request> pings() const { return recorded("ping"); }

  /// The job-done posts for `job_id` that are results (not IN_PROGRESS updates).
  std::vector<fake_request> results_for(const std::string& job_id) const {
    std::vector<fake_request> out;
    for (auto& r : done_posts()) {
      if (r.path.size() >= job_id.size() && r.path.compare(r.path.size() - job_id.size(), job_id.size(), job_id) == 0 &&
          r.body.find("\"IN_PROGRESS\"") == std::string::npos) {
        out.push_back(r);
      }
    }
    return out;
  }
  /// The progress updates posted for `job_id`.
  std::vector<fake_request> progress_for(const std::string& job_id) const {
    std::vector<fake_request> out;
    for (auto& r : done_posts()) {
      if (r.path.find(job_id) != std::string::npos && r.body.find("\"IN_PROGRESS\"") != std::string::npos) {
        out.push_back(r);
      }
    }
    return out;
  }
  /// The accepted (HTTP 200) result of `job_id`, waiting up to `limit`; "" when none came.
  std::string wait_for_result(const std::string& job_id, std::chrono::seconds limit = std::chrono::seconds(60)) const {
    std::string body;
    wait_until([&] {
      for (auto& r : results_for(job_id)) {
        if (r.answered == 200) {
          body = r.body;
          return true;
        }
      }
      return false;
    }, limit);
    return body;
  }

  /// Polls `pred` every 20 ms until true or `limit` passes.
  bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit) const {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (pred()) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return pred();
  }

private:
  std::vector<fake_request> recorded(const std::string& kind) const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<fake_request> out;
    for (auto& r : requests_) {
      if (r.path.find("/" + kind + "/") != std::string::npos) {
        out.push_back(r);
      }
    }
    return out;
  }

  void accept_loop() {
    while (!stopping_) {
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) {
        continue;
      }
      std::lock_guard<std::mutex> lock(mutex_);
      connections_.emplace_back([this, fd] { serve(fd); });
    }
  }

  /// Reads one request; false when the peer closed first.
  static bool read_request(int fd, fake_request& r) {
    std::string data;
    char buf[8192];
    size_t header_end;
    while ((header_end = data.find("\r\n\r\n")) == std::string::npos) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {
        return false;
      }
      data.append(buf, static_cast<size_t>(n));
    }
    const std::string head = data.substr(0, header_end);
    size_t line_end = head.find("\r\n");
    const std::string request_line = head.substr(0, line_end);
    const size_t sp1 = request_line.find(' '), sp2 = request_line.rfind(' ');
    r.method = request_line.substr(0, sp1);
    const std::string target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
    const size_t q = target.find('?');
    r.path = target.substr(0, q);
    r.query = q == std::string::npos ? "" : target.substr(q + 1);
    size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      size_t end = head.find("\r\n", pos);
      if (end == std::string::npos) {
        end = head.size();
      }
      const std::string line = head.substr(pos, end - pos);
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        r.headers[name] = value;
      }
      pos = end + 2;
    }
    size_t length = 0;
    if (auto it = r.headers.find("content-length"); it != r.headers.end()) {
      length = std::stoul(it->second);
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

  static void reply(int fd, int status, const std::string& content_type, const std::string& body) {
    std::string out = "HTTP/1.1 " + std::to_string(status) + " X\r\nConnection: close\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n";
    if (!content_type.empty()) {
      out += "Content-Type: " + content_type + "\r\n";
    }
    out += "\r\n" + body;
    ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
  }

  void serve(int fd) {
    fake_request r;
    if (!read_request(fd, r)) {
      ::close(fd);
      return;
    }
    r.at = std::chrono::steady_clock::now();
    int status = 200;
    std::string type = "application/json", body = "{}";
    bool reset = false;
    if (r.path.find("/job-take/") != std::string::npos) {
      std::unique_lock<std::mutex> lock(mutex_);
      if (take_override_ > 0) {
        --take_override_;
        status = take_status_;
      } else {
        // A short long-poll: wait a little for a job before saying there is none.
        cv_.wait_for(lock, std::chrono::milliseconds(300), [this] { return !jobs_.empty() || stopping_; });
        if (jobs_.empty()) {
          status = 204;
          type.clear();
          body.clear();
        } else {
          body = jobs_.front();
          jobs_.pop_front();
        }
      }
    } else if (r.path.find("/job-done/") != std::string::npos) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (done_failures_ > 0 && r.body.find("\"IN_PROGRESS\"") == std::string::npos) {
        --done_failures_;
        if (done_failure_ == failure::reset) {
          reset = true;
        } else {
          status = 500;
          body = R"({"error":"try again"})";
        }
      }
    } else if (r.path.find("/ping/") == std::string::npos) {
      status = 404;
    }
    r.answered = reset ? 0 : status;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      requests_.push_back(r);
    }
    if (reset) {
      // Close with SO_LINGER 0: the peer gets a TCP reset and no answer.
      linger l{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    } else {
      reply(fd, status, type, body);
    }
    ::close(fd);
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::thread> connections_;
  std::deque<std::string> jobs_;
  std::vector<fake_request> requests_;
  int take_status_ = 204;
  int take_override_ = 0;
  failure done_failure_ = failure::http_500;
  int done_failures_ = 0;
};

} // namespace sdw::test
