#pragma once
// A real S3-compatible server for the storage tests: moto's server (deploy/requirements.txt pins
// moto[server]) started on a free loopback port with set-up's Python, given an IAM user with an
// access key allowed everything on S3 and the buckets a test names, then told to check every
// request's Signature V4 against that key (moto's /moto-api/reset-auth), as S3 does. Stopped with
// its owner. Without moto the constructor throws, saying so: the tests fail, they never skip.

#include "runtime/base/child_process.hpp"
#include "runtime/base/json_value.hpp"
#include "tests/support/free_port.hpp"
#include "tests/support/raw_http.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/temp_dir.hpp"

#include <chrono>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace sdw::test {

class moto_s3 {
public:
  explicit moto_s3(const std::vector<std::string>& buckets) : port_(free_port()) {
    const auto [rc, out] = run_command(python() + " -c 'import moto.server, boto3'");
    if (rc != 0) {
      throw std::runtime_error("moto is not installed in " + python() +
                               ": deploy/requirements.txt pins moto[server]; run deploy/setup.sh (" + out + ")");
    }
    child_spec spec;
    spec.args = {python(), "-m", "moto.server", "-H", "127.0.0.1", "-p", std::to_string(port_)};
    spec.stdout_path = dir_.file("moto.log");
    spec.stderr_path = spec.stdout_path;
    server_ = std::make_unique<child_process>(spec);
    wait_until_up();
    std::string command = python() + " '" + source() + "/tests/support/moto_setup.py' " + endpoint();
    for (const auto& b : buckets) {
      command += " '" + b + "'";
    }
    const auto [setup_rc, setup_out] = run_command(command);
    if (setup_rc != 0) {
      throw std::runtime_error("moto set-up failed: " + setup_out + "\n" + log());
    }
    const json_value key = parse_json(setup_out.substr(setup_out.rfind('{')));
    id_ = key.find("id")->as_string();
    secret_ = key.find("secret")->as_string();
    check_signatures(true);
  }

  /// "http://127.0.0.1:<port>", as BUCKET_ENDPOINT_URL names it.
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  /// The access key allowed everything on S3.
  const std::string& access_key_id() const { return id_; }
  const std::string& secret_access_key() const { return secret_; }

  /// Turns the check of every request's signature on or off. moto checks a signature only in an
  /// Authorization header (a presigned URL's query signature it cannot check; s3_storage_test
  /// holds ours against boto3's), so a GET of a presigned URL needs the check off.
  void check_signatures(bool on) {
    const std::string body = on ? "0" : "inf";  // how many requests go unchecked
    const raw_reply r = raw_http(port_, "POST /moto-api/reset-auth HTTP/1.1\r\nHost: 127.0.0.1:" +
                                          std::to_string(port_) + "\r\nContent-Type: text/plain\r\nContent-Length: " +
                                          std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
    if (r.status != 200) {
      throw std::runtime_error("moto's reset-auth answered " + std::to_string(r.status) + ": " + r.body);
    }
  }

  /// A plain HTTP GET of `url`, a URL on this server.
  raw_reply get(const std::string& url) const {
    const std::string prefix = endpoint();
    if (url.rfind(prefix + "/", 0) != 0) {
      throw std::runtime_error("not a URL of this server: " + url);
    }
    return raw_http(port_, "GET " + url.substr(prefix.size()) + " HTTP/1.1\r\nHost: 127.0.0.1:" +
                             std::to_string(port_) + "\r\nConnection: close\r\n\r\n");
  }

  /// What the server logged (one line per request).
  std::string log() const { return slurp(dir_.file("moto.log")); }

private:
  static std::string source() {
    const char* s = std::getenv("SDW_SOURCE_DIR");
    return s != nullptr ? s : ".";
  }

  void wait_until_up() {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < end) {
      if (!server_->alive()) {
        throw std::runtime_error("moto's server ended at start:\n" + log());
      }
      try {
        if (raw_http(port_, "GET /moto-api/data.json HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
              .status == 200) {
          return;
        }
      } catch (const std::runtime_error&) {
        // not listening yet
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    throw std::runtime_error("moto's server did not answer within 60 s:\n" + log());
  }

  temp_dir dir_;
  int port_;
  std::unique_ptr<child_process> server_;
  std::string id_;
  std::string secret_;
};

} // namespace sdw::test
