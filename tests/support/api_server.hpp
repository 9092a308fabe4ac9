#pragma once
// Runs the real `sdworker api` binary (SDW_BINARY) on a free loopback port and talks to it over
// HTTP with cpprest. Include after defining _TURN_OFF_PLATFORM_STRING.

#include "runtime/base/child_process.hpp"
#include "runtime/base/encoding.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/base/png_codec.hpp"
#include "tests/support/free_port.hpp"
#include "tests/support/tiny_model.hpp"

#include <boost/test/unit_test.hpp>
#include <cpprest/http_client.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace sdw::test {

/// Header fields to add to a request.
using header_list = std::vector<std::pair<std::string, std::string>>;

/// An HTTP answer: status, body text and the body parsed as JSON (null when it is not JSON).
struct http_reply {
  int status = 0;
  std::string body;
  json_value json;
};

/// The server process; stopped (SIGTERM, then SIGKILL) by the destructor.
class api_server {
public:
  explicit api_server(const std::string& model, std::vector<std::string> extra = {})
    : port_(free_port()), log_(dir_.file("server.log")) {
    const char* binary = std::getenv("SDW_BINARY");
    if (binary == nullptr) {
      throw std::runtime_error("SDW_BINARY is not set");
    }
    child_spec spec;
    spec.args = {binary, "--threads", "1", "api", "--host", "127.0.0.1", "--port", std::to_string(port_),
                 "--model", model, "--clip-vocab", clip_vocab(), "--model-dir", dir_.path};
    spec.args.insert(spec.args.end(), extra.begin(), extra.end());
    spec.stdout_path = log_;
    spec.stderr_path = log_;
    child_ = std::make_unique<child_process>(spec);
    web::http::client::http_client_config cfg;
    cfg.set_timeout(std::chrono::seconds(120));
    client_ = std::make_unique<web::http::client::http_client>("http://127.0.0.1:" + std::to_string(port_), cfg);
  }

  ~api_server() { stop(); }

  /// Waits until the server answers /health (in any state); false if it died or took over `limit`.
  bool wait_until_up(std::chrono::seconds limit = std::chrono::seconds(60)) { return wait_until_up_with({}, limit); }

  /// wait_until_up, sending `headers` (credentials) with each /health.
  bool wait_until_up_with(const header_list& headers, std::chrono::seconds limit = std::chrono::seconds(60)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (!alive()) {
        return false;
      }
      try {
        if (call("GET", "/health", "", headers).status == 200) {
          return true;
        }
      } catch (const std::exception&) {
        // Not listening yet.
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  /// Waits until /health says `state` ("ready", "failed"); false on timeout.
  bool wait_for_state(const std::string& state, std::chrono::seconds limit = std::chrono::seconds(60)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      const auto r = call("GET", "/health");
      if (const json_value* s = r.json.find("status"); s != nullptr && s->is_string() && s->as_string() == state) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  /// One request; the body is sent as application/json (unless `headers` name another
  /// Content-Type), with `headers` added.
  http_reply call(const std::string& method, const std::string& path, const std::string& body = "",
                  const header_list& headers = {}) {
    web::http::http_request req(method);
    req.set_request_uri(path);
    if (method == "POST") {
      req.set_body(body, "application/json");
    }
    for (const auto& [name, value] : headers) {
      req.headers()[name] = value;
    }
    auto response = client_->request(req).get();
    http_reply r;
    r.status = response.status_code();
    r.body = response.extract_utf8string(true).get();
    try {
      r.json = parse_json(r.body);
    } catch (const std::exception&) {
      r.json = json_value();
    }
    return r;
  }

  /// Whether the process is still running.
  bool alive() { return child_->alive(); }

  /// Stops the server: SIGTERM, up to 10 s to exit, then SIGKILL. Returns the exit status
  /// (-1 when it had to be killed or was already gone).
  int stop() { return child_->stop(std::chrono::seconds(10)); }
  /// Sends `sig` (SIGTERM, ...) and returns at once.
  void signal(int sig) { child_->signal(sig); }
  /// Waits up to `limit` for the process to end by itself: its exit code, or -1.
  int wait_exit(std::chrono::seconds limit) { return child_->wait_exit(limit); }

  /// The server's log so far (for failure messages).
  std::string log() const {
    std::ifstream in(log_);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }

  int port() const { return port_; }
  const temp_dir& dir() const { return dir_; }

private:
  temp_dir dir_;
  int port_;
  std::string log_;
  std::unique_ptr<child_process> child_;
  std::unique_ptr<web::http::client::http_client> client_;
};

/// A member of a JSON object, or a null value when absent.
inline const json_value& member(const json_value& v, const std::string& key) {
  static const json_value null;
  const json_value* m = v.find(key);
  return m != nullptr ? *m : null;
}

/// The server all tests of one file share (starting one costs seconds), with its tiny model.
struct shared_server {
  explicit shared_server(std::vector<std::string> extra) : model(tiny_model(models)), server(model, std::move(extra)) {}
  temp_dir models;
  std::string model;
  api_server server;
};

/// Made on first use with `extra` arguments (later arguments are ignored); the server is stopped
/// when the test program exits. `first` tells the caller it was just started.
inline shared_server& shared_api_server(std::vector<std::string> extra, bool& first) {
  static std::unique_ptr<shared_server> instance;
  first = !instance;
  if (first) {
    instance = std::make_unique<shared_server>(std::move(extra));
    // Gone before cpprest's own statics (made with its client, after `instance`): destroying the
    // client after them read freed memory at exit.
    std::atexit([] { instance.reset(); });
  }
  return *instance;
}

/// shared_api_server, checked: on first use it must come up (and, with `ready`, load its model);
/// on every use it must still run. Fails the calling test otherwise, with the server's log.
inline shared_server& checked_shared_api_server(std::vector<std::string> extra, bool ready = true) {
  bool first = false;
  auto& s = shared_api_server(std::move(extra), first);
  if (first) {
    BOOST_TEST_REQUIRE(s.server.wait_until_up(), s.server.log());
    if (ready) {
      BOOST_TEST_REQUIRE(s.server.wait_for_state("ready"), s.server.log());
    }
  }
  BOOST_TEST_REQUIRE(s.server.alive(), s.server.log());
  return s;
}

/// The images of an A1111 txt2img response, decoded.
inline std::vector<decoded_png> images_of(const http_reply& r) {
  std::vector<decoded_png> out;
  for (const auto& img : member(r.json, "images").as_array()) {
    out.push_back(decode_png(base64_decode(img.as_string())));
  }
  return out;
}

} // namespace sdw::test
