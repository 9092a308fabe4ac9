#define BOOST_TEST_MODULE config
#include <boost/test/unit_test.hpp>

#include "app/config_file.hpp"
#include "runtime/base/errors.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/temp_dir.hpp"

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

using namespace sdw;

namespace {

std::string source_dir() {
  const char* dir = std::getenv("SDW_SOURCE_DIR");
  BOOST_REQUIRE(dir != nullptr);
  return dir;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

/// The message of the sdw::error `f` throws (fails the test when it does not throw).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const error& e) {
    return e.what();
  }
  BOOST_FAIL("no error was thrown");
  return {};
}

} // namespace

BOOST_AUTO_TEST_CASE(shipped_ini_documents_every_key_with_its_default) {
  const std::string path = source_dir() + "/conf/sdworker.ini";
  worker_config from_file;
  load_config_file(from_file, path);
  const worker_config defaults;
  const std::string text = read_text(path);
  for (const auto& key : config_keys()) {
    const std::string name(key.name);
    BOOST_TEST_CONTEXT(name) {
      BOOST_TEST(config_value_text(from_file, name) == config_value_text(defaults, name));
      const std::string bare = name.substr(name.find('.') + 1);
      BOOST_TEST(text.find("\n" + bare + "=") != std::string::npos);
      if (!key.env.empty()) {
        BOOST_TEST(text.find("(" + std::string(key.env) + ")") != std::string::npos);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(file_then_environment_then_command_line) {
  test::temp_dir dir;
  const std::string ini = dir.file("w.ini");
  write_text(ini, "[http]\nport=4000\nhost=\"0.0.0.0\"\n[queue]\nsize=3\n[runpod]\nping-interval=2500\n");
  worker_config c;
  load_config_file(c, ini);
  BOOST_TEST(c.port == 4000);
  BOOST_TEST(c.host == "0.0.0.0");
  BOOST_TEST(c.queue_size == 3);
  BOOST_TEST(c.ping_interval_ms == 2500);
  BOOST_TEST(c.model_dir == "models");  // untouched keys keep their defaults

  std::map<std::string, std::string> env = {{"SDWORKER_PORT", "5000"},
                                            {"RUNPOD_WEBHOOK_GET_JOB", "http://127.0.0.1:9/job-take/$ID?gpu=x"},
                                            {"RUNPOD_AI_API_KEY", "secret-key"}};
  apply_environment(c, [&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
  BOOST_TEST(c.port == 5000);
  BOOST_TEST(c.host == "0.0.0.0");
  BOOST_TEST(c.get_job_url == "http://127.0.0.1:9/job-take/$ID?gpu=x");
  BOOST_TEST(c.api_key == "secret-key");

  set_config_value(c, "http.port", "6000", "--port");
  BOOST_TEST(c.port == 6000);
  validate(c);
}

BOOST_AUTO_TEST_CASE(errors_name_the_source_and_the_key) {
  test::temp_dir dir;
  const std::string ini = dir.file("bad.ini");

  write_text(ini, "[http]\nprot=3000\n");
  worker_config c;
  std::string msg = error_of([&] { load_config_file(c, ini); });
  BOOST_TEST(msg.find(ini) != std::string::npos);
  BOOST_TEST(msg.find("unknown key 'http.prot'") != std::string::npos);

  write_text(ini, "[http]\nport=\"abc\"\n");
  msg = error_of([&] { load_config_file(c, ini); });
  BOOST_TEST(msg.find("http.port must be an integer, got 'abc'") != std::string::npos);

  write_text(ini, "[http]\nport=3000\n[broken\n");
  msg = error_of([&] { load_config_file(c, ini); });
  BOOST_TEST(msg.find("line 3") != std::string::npos, msg);

  write_text(ini, "[model]\ndevice=[\"0\", \"1\"]\n");
  msg = error_of([&] { load_config_file(c, ini); });
  BOOST_TEST(msg.find("model.device must be a string or an integer") != std::string::npos);

  msg = error_of([&] { load_config_file(c, dir.file("missing.ini")); });
  BOOST_TEST(msg.find("missing.ini: cannot read") != std::string::npos);

  msg = error_of([&] {
    apply_environment(c, [](const char* name) -> const char* {
      return std::string(name) == "SDWORKER_QUEUE_SIZE" ? "many" : nullptr;
    });
  });
  BOOST_TEST(msg == "SDWORKER_QUEUE_SIZE: queue.size must be an integer, got 'many'");

  const std::map<std::string, std::pair<std::string, std::string>> invalid = {
    {"http.port", {"70000", "http.port: must be 1..65535, got 70000"}},
    {"queue.size", {"0", "queue.size: must be at least 1, got 0"}},
    {"model.device", {"gpu", "model.device: must be auto, cpu, cuda or cuda:N, got 'gpu'"}},
    {"model.dtype", {"f8", "model.dtype: must be auto, f32, f16 or bf16, got 'f8'"}},
    {"log.level", {"loud", "log.level: must be trace, debug, info, warn or error, got 'loud'"}},
    {"http.api-auth", {"alice:pw,bob", "http.api-auth: each entry must be user:password (entry 2 is not)"}},
    {"runpod.get-job-url", {"ftp://x", "runpod.get-job-url: must be an http:// or https:// URL, got 'ftp://x'"}},
    {"remote.executors", {"gpu1:4100,gpu2", "remote.executors: each item must be host:port, got 'gpu2'"}},
    {"model.devices", {"none", "model.devices: is none, so remote.executors must name at least one executor host"}},
    {"runpod.concurrency",
     {"20", "runpod.concurrency: is 20, more than queue.size (16): the jobs taken beyond the queue would be refused; "
            "raise queue.size"}},
    {"queue.kept-results-mb", {"0", "queue.kept-results-mb: must be 1..1048576, got 0"}},
    {"queue.kept-results-minutes", {"0", "queue.kept-results-minutes: must be 1..10080, got 0"}},
  };
  for (const auto& [key, case_] : invalid) {
    worker_config v;
    set_config_value(v, key, case_.first, "test");
    BOOST_TEST(error_of([&] { validate(v); }) == case_.second);
  }
  worker_config twice;
  set_config_value(twice, "remote.executors", "gpu1:4100, gpu1:4100", "test");
  BOOST_TEST(error_of([&] { validate(twice); }) == "remote.executors: gpu1:4100 is listed twice");
  set_config_value(twice, "remote.executors", "gpu1:4100, 10.0.0.2:4101", "test");
  const auto hosts = remote_executors(twice);
  BOOST_TEST_REQUIRE(hosts.size() == 2u);
  BOOST_TEST(hosts[1].host == "10.0.0.2");
  BOOST_TEST(hosts[1].port == 4101);
}

// The storage results over runpod.max-result-mb go to: RunPod's three BUCKET_* variables together
// or none, an endpoint URL that can be used, a valid bucket name.
BOOST_AUTO_TEST_CASE(storage_settings_are_checked_at_start) {
  const std::map<std::string, std::string> full = {{"BUCKET_ENDPOINT_URL", "https://s3.us-west-2.amazonaws.com"},
                                                   {"BUCKET_ACCESS_KEY_ID", "AKIAEXAMPLE"},
                                                   {"BUCKET_SECRET_ACCESS_KEY", "s3cr3t"},
                                                   {"SDWORKER_BUCKET", "sd-results"}};
  auto from = [](const std::map<std::string, std::string>& env) {
    worker_config c;
    apply_environment(c, [&](const char* name) -> const char* {
      const auto it = env.find(name);
      return it == env.end() ? nullptr : it->second.c_str();
    });
    return c;
  };
  const worker_config ok = from(full);
  validate(ok);
  BOOST_TEST(ok.bucket_endpoint_url == "https://s3.us-west-2.amazonaws.com");
  BOOST_TEST(ok.bucket_access_key_id == "AKIAEXAMPLE");
  BOOST_TEST(ok.bucket_secret_access_key == "s3cr3t");
  BOOST_TEST(ok.bucket == "sd-results");
  validate(from({}));

  auto without = full;
  without.erase("BUCKET_SECRET_ACCESS_KEY");
  BOOST_TEST(error_of([&] { validate(from(without)); }) ==
             "runpod.bucket-endpoint-url: the storage needs BUCKET_ENDPOINT_URL, BUCKET_ACCESS_KEY_ID and "
             "BUCKET_SECRET_ACCESS_KEY together (or none of them); missing: BUCKET_SECRET_ACCESS_KEY");
  auto bad_url = full;
  bad_url["BUCKET_ENDPOINT_URL"] = "s3.example.com";
  BOOST_TEST(error_of([&] { validate(from(bad_url)); }) ==
             "runpod.bucket-endpoint-url: must be an http:// or https:// URL, got 's3.example.com'");
  auto bad_bucket = full;
  bad_bucket["SDWORKER_BUCKET"] = "SD_Results";
  BOOST_TEST(error_of([&] { validate(from(bad_bucket)); }) ==
             "runpod.bucket: 'SD_Results' is not a bucket name: it may hold only lower-case letters, digits, '.' and '-'");
  auto bad_region = full;
  bad_region["SDWORKER_BUCKET_REGION"] = "US East";
  BOOST_TEST(error_of([&] { validate(from(bad_region)); }) ==
             "runpod.bucket-region: must be a region name such as us-east-1, got 'US East'");
  for (const auto& key : config_keys()) {
    if (key.env == "BUCKET_ACCESS_KEY_ID" || key.env == "BUCKET_SECRET_ACCESS_KEY") {
      BOOST_TEST(key.secret, key.name);
    }
  }
}

BOOST_AUTO_TEST_CASE(api_command_refuses_a_bad_configuration_in_one_line) {
  test::temp_dir dir;
  const std::string ini = dir.file("bad.ini");
  write_text(ini, "[queue]\nsize=0\n");
  const char* binary = std::getenv("SDW_BINARY");
  BOOST_REQUIRE(binary != nullptr);
  auto [code, out] = test::run_command(std::string(binary) + " api --config " + ini);
  BOOST_TEST(code == 2);
  BOOST_TEST(out.find("queue.size: must be at least 1, got 0") != std::string::npos, out);

  // The command line overrides the file (and is checked the same way).
  write_text(ini, "[queue]\nsize=4\n");
  std::tie(code, out) = test::run_command(std::string(binary) + " api --config " + ini + " --port 0");
  BOOST_TEST(code == 2);
  BOOST_TEST(out.find("http.port: must be 1..65535, got 0") != std::string::npos, out);

  std::tie(code, out) = test::run_command("SDWORKER_PORT=x " + std::string(binary) + " api --config " + ini);
  BOOST_TEST(code == 2);
  BOOST_TEST(out.find("SDWORKER_PORT: http.port must be an integer, got 'x'") != std::string::npos, out);
}
