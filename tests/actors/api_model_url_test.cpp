#define BOOST_TEST_MODULE api_model_url
#include <boost/test/unit_test.hpp>

#define _TURN_OFF_PLATFORM_STRING
#include "runtime/base/child_process.hpp"
#include "runtime/base/encoding.hpp"
#include "tests/support/api_server.hpp"

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace fs = std::filesystem;
using sdw::test::member;
using sdw::test::slurp;
using sdw::test::temp_dir;

namespace {

/// A file server on loopback (tests/support/range_file_server.py) serving `folder`.
struct file_server {
  temp_dir logs;
  int port = sdw::test::free_port();
  std::string log = logs.file("requests.log");
  std::unique_ptr<sdw::child_process> child;

  explicit file_server(const std::string& folder) {
    const char* python = std::getenv("SDW_PYTHON");
    const char* source = std::getenv("SDW_SOURCE_DIR");
    BOOST_TEST_REQUIRE((python != nullptr && source != nullptr));
    sdw::child_spec spec;
    spec.args = {python, std::string(source) + "/tests/support/range_file_server.py", folder, std::to_string(port), log};
    spec.stdout_path = logs.file("server.out");
    spec.stderr_path = spec.stdout_path;
    child = std::make_unique<sdw::child_process>(spec);
    // Up when it answers (a 404 for a file it does not have).
    for (int i = 0; i < 100; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (fs::exists(log)) break;
      try {
        web::http::client::http_client c("http://127.0.0.1:" + std::to_string(port));
        c.request("GET", "/probe").get();
      } catch (const std::exception&) {
      }
    }
  }
  std::string url(const std::string& name) const { return "http://127.0.0.1:" + std::to_string(port) + "/" + name; }
  std::string requests() const { return fs::exists(log) ? slurp(log) : ""; }
};

/// The health of a server that fetches its model: "ready" or "failed" (whichever comes).
std::string settle(sdw::test::api_server& s) {
  for (int i = 0; i < 600; ++i) {
    const auto h = s.call("GET", "/health");
    const auto& status = member(h.json, "status");
    if (status.is_string() && (status.as_string() == "ready" || status.as_string() == "failed")) {
      return h.body;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return "timed out";
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

} // namespace

BOOST_AUTO_TEST_CASE(a_model_is_fetched_once_checked_and_served) {
  temp_dir served, target;
  const std::string model = sdw::test::tiny_model(served);
  const std::string sha = sdw::sha256_file_hex(model);
  file_server files(served.path);
  const std::string path = target.file("Stable-diffusion/fetched.safetensors");
  {
    sdw::test::api_server s(path, {"--model-url", files.url("tiny.safetensors"), "--model-sha256", sha});
    BOOST_TEST_REQUIRE(s.wait_until_up(), s.log());
    const std::string health = settle(s);
    BOOST_TEST_REQUIRE(has(health, "\"ready\""), health << s.log());
    BOOST_TEST(sdw::sha256_file_hex(path) == sha);
    BOOST_TEST(!fs::exists(path + ".part"));
    const auto r = s.call("POST", "/sdapi/v1/txt2img", R"({"prompt":"x","steps":2,"width":64,"height":64})");
    BOOST_TEST(r.status == 200, r.body.substr(0, 300));
  }
  // A second start finds the file in place and fetches nothing.
  const std::string before = files.requests();
  sdw::test::api_server again(path, {"--model-url", files.url("tiny.safetensors"), "--model-sha256", sha});
  BOOST_TEST_REQUIRE(again.wait_until_up(), again.log());
  BOOST_TEST(has(settle(again), "\"ready\""));
  BOOST_TEST(files.requests() == before);
}

BOOST_AUTO_TEST_CASE(a_partial_download_is_resumed_where_it_stopped) {
  temp_dir served, target;
  const std::string model = sdw::test::tiny_model(served);
  const std::string bytes = slurp(model);
  const std::string path = target.file("resumed.safetensors");
  const size_t half = bytes.size() / 2;
  std::ofstream(path + ".part", std::ios::binary) << bytes.substr(0, half);
  file_server files(served.path);
  sdw::test::api_server s(path, {"--model-url", files.url("tiny.safetensors"), "--model-sha256", sdw::sha256_file_hex(model)});
  BOOST_TEST_REQUIRE(s.wait_until_up(), s.log());
  BOOST_TEST_REQUIRE(has(settle(s), "\"ready\""), s.log());
  BOOST_TEST(slurp(path) == bytes);
  BOOST_TEST(has(files.requests(), "range=bytes=" + std::to_string(half) + "-"), files.requests());
}

BOOST_AUTO_TEST_CASE(a_wrong_hash_or_an_unreachable_url_leaves_the_worker_unhealthy_saying_why) {
  temp_dir served, target;
  sdw::test::tiny_model(served);
  file_server files(served.path);
  const std::string path = target.file("wrong.safetensors");
  {
    sdw::test::api_server s(path, {"--model-url", files.url("tiny.safetensors"), "--model-sha256", std::string(64, '0')});
    BOOST_TEST_REQUIRE(s.wait_until_up(), s.log());
    const std::string health = settle(s);
    BOOST_TEST(has(health, "\"failed\""), health);
    BOOST_TEST(has(health, "sha256"), health);
    BOOST_TEST(!fs::exists(path));  // never put in place, never loaded
    const auto r = s.call("POST", "/sdapi/v1/txt2img", R"({"prompt":"x","steps":2,"width":64,"height":64})");
    BOOST_TEST(r.status >= 400, r.body);
    BOOST_TEST(s.alive());
  }
  for (const std::string& url : {files.url("missing.safetensors"), "http://127.0.0.1:" + std::to_string(sdw::test::free_port()) + "/m.safetensors"}) {
    sdw::test::api_server s(target.file("other.safetensors"), {"--model-url", url});
    BOOST_TEST_REQUIRE(s.wait_until_up(), s.log());
    const std::string health = settle(s);
    BOOST_TEST(has(health, "\"failed\""), url << ": " << health);
    BOOST_TEST(has(health, "model.url"), url << ": " << health);
  }
}
