// sdw-bench-front: /health latency of `sdworker api` while many clients long-poll a running job,
// against the same server with nobody waiting (the baseline, measured in the same run).
//   sdw-bench-front --binary build/app/sdworker [--clients 200] [--samples 50]
// The server runs a simulated executor (`--simulate 1`), so no model is needed; one long job
// keeps it busy while the clients wait on /status-sync for it.

#include "runtime/base/child_process.hpp"
#include "runtime/sim/sim_server.hpp"

#include <CLI/CLI.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void send_request(int fd, const std::string& method, const std::string& target, const std::string& body) {
  const std::string r = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
                        "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  ::send(fd, r.data(), r.size(), MSG_NOSIGNAL);
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

/// Median and 95th percentile of `samples` GET /health round trips, in milliseconds.
std::pair<double, double> health_latency(int port, int samples) {
  std::vector<double> ms;
  for (int i = 0; i < samples; ++i) {
    const auto t0 = clock_type::now();
    const int status = sdw::sim_http_request(port, "GET", "/health").status;
    const double d = std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
    if (status != 200) throw std::runtime_error("/health did not answer 200");
    ms.push_back(d);
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 95 / 100)]};
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"sdw-bench-front: /health latency while clients long-poll"};
  std::string binary = "build/app/sdworker";
  int clients = 200, samples = 50;
  app.add_option("--binary", binary, "the sdworker program")->capture_default_str();
  app.add_option("--clients", clients, "long-polling clients")->capture_default_str();
  app.add_option("--samples", samples, "/health requests per measurement")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const int port = free_port();
  sdw::child_spec spec;
  spec.args = {binary, "api", "--port", std::to_string(port), "--simulate", "1", "--simulate-time-scale", "1",
               "--queue-size", "8"};
  spec.stdout_path = spec.stderr_path = "/dev/null";
  sdw::child_process server(spec);
  for (int i = 0; i < 100 && sdw::sim_http_request(port, "GET", "/health").status == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const auto idle = health_latency(port, samples);

  // One long simulated job (150 steps at 1024²), and the clients waiting for it.
  const std::string queued =
    sdw::sim_http_request(port, "POST", "/run", R"({"input":{"prompt":"long","steps":150,"width":1024,"height":1024}})").body;
  const auto id_at = queued.find("\"id\":\"");
  if (id_at == std::string::npos) throw std::runtime_error("no job id in: " + queued);
  const std::string id = queued.substr(id_at + 6, queued.find('"', id_at + 6) - id_at - 6);
  std::vector<int> waiting;
  for (int i = 0; i < clients; ++i) {
    const int fd = connect_to(port);
    if (fd < 0) throw std::runtime_error("connect failed");
    send_request(fd, "GET", "/status-sync/" + id + "?wait=300000", "");
    waiting.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto busy = health_latency(port, samples);

  sdw::sim_http_request(port, "POST", "/cancel/" + id);
  for (int fd : waiting) ::close(fd);
  server.stop(std::chrono::seconds(10));

  std::printf("/health latency, %d samples each (ms)\n", samples);
  std::printf("  %-34s median %7.2f  p95 %7.2f\n", "nobody waiting (baseline)", idle.first, idle.second);
  std::printf("  %-34s median %7.2f  p95 %7.2f\n", (std::to_string(clients) + " clients long-polling").c_str(),
              busy.first, busy.second);
  std::printf("  ratio (median, long-polling / baseline): %.2f\n", busy.first / idle.first);
  return 0;
}
