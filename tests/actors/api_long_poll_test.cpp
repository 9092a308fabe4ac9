#define BOOST_TEST_MODULE api_long_poll
#include <boost/test/unit_test.hpp>
// Long polls are parked, not blocking: with 200 clients waiting on a running job (status-sync,
// runsync and A1111 txt2img), /health, /status and /sdapi/v1/progress still answer, and every
// waiting client gets its answer when the job ends.

#define _TURN_OFF_PLATFORM_STRING
#include "tests/support/api_server.hpp"

#include <sys/socket.h>

#include <future>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

/// A raw HTTP client on its own socket: sends one request and reads the answer later.
class raw_client {
public:
  raw_client(int port, const std::string& method, const std::string& target, const std::string& body = "") {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw std::runtime_error("connect failed");
    }
    const std::string request = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
                                "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    ::send(fd_, request.data(), request.size(), MSG_NOSIGNAL);
  }
  ~raw_client() { ::close(fd_); }
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;

  /// The status line's code once the answer's head has arrived (0 on timeout or close).
  int status(std::chrono::milliseconds limit) {
    timeval tv{static_cast<time_t>(limit.count() / 1000), static_cast<suseconds_t>((limit.count() % 1000) * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    while (data_.find("\r\n") == std::string::npos) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return 0;
      data_.append(buf, static_cast<size_t>(n));
    }
    return std::stoi(data_.substr(data_.find(' ') + 1, 3));
  }

private:
  int fd_ = -1;
  std::string data_;
};

} // namespace

BOOST_AUTO_TEST_CASE(health_answers_while_two_hundred_clients_long_poll) {
  auto& s = sdw::test::checked_shared_api_server({"--queue-size", "8"});
  // A job that runs for a while: 150 steps at 256² on the tiny model, one thread.
  const auto queued = s.server.call(
    "POST", "/run", R"({"input":{"prompt":"long","steps":150,"width":256,"height":256,"seed":3,"sampler_name":"Euler"}})");
  BOOST_TEST_REQUIRE(queued.status == 200, queued.body);
  const std::string id = sdw::test::member(queued.json, "id").as_string();

  std::vector<std::unique_ptr<raw_client>> waiting;
  const std::string txt2img = R"({"prompt":"waits","steps":1,"width":64,"height":64,"seed":4})";
  for (int i = 0; i < 200; ++i) {
    if (i % 40 == 0) {
      // A few of them queue jobs of their own behind the long one.
      waiting.push_back(std::make_unique<raw_client>(s.server.port(), "POST", "/sdapi/v1/txt2img", txt2img));
    } else {
      waiting.push_back(std::make_unique<raw_client>(s.server.port(), "GET", "/status-sync/" + id + "?wait=120000"));
    }
  }
  std::this_thread::sleep_for(300ms);  // let the server take them all

  // Every other route still answers, each within a second.
  for (const char* path : {"/health", "/status/", "/sdapi/v1/progress"}) {
    const std::string target = std::string(path) == "/status/" ? "/status/" + id : path;
    auto answered = std::async(std::launch::async, [&] { return s.server.call("GET", target).status; });
    BOOST_TEST_REQUIRE((answered.wait_for(1s) == std::future_status::ready), target << " did not answer within 1 s");
    BOOST_TEST(answered.get() == 200, target);
  }

  // Ending the job answers every parked client.
  BOOST_TEST(s.server.call("POST", "/cancel/" + id).status == 200);
  int answered = 0;
  for (auto& c : waiting) {
    answered += c->status(60s) == 200 ? 1 : 0;
  }
  BOOST_TEST(answered == 200);
}
