#define BOOST_TEST_MODULE serve_local
#include <boost/test/unit_test.hpp>

#include "runtime/base/encoding.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/base/png_codec.hpp"
#include "tests/support/serve_process.hpp"

using sdw::json_value;
using namespace std::chrono_literals;

namespace {

/// Without RunPod variables the worker runs the local test job.
const std::vector<std::string> runpod_vars = {"RUNPOD_WEBHOOK_GET_JOB", "RUNPOD_WEBHOOK_POST_OUTPUT",
                                              "RUNPOD_WEBHOOK_PING", "RUNPOD_ENDPOINT_ID"};

/// The last line of stdout, parsed.
json_value result_of(const sdw::test::serve_process& p) {
  std::string out = p.out();
  while (!out.empty() && out.back() == '\n') {
    out.pop_back();
  }
  return sdw::parse_json(out.substr(out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1));
}

struct model_dir {
  sdw::test::temp_dir dir;
  std::string model = sdw::test::tiny_model(dir);
};

} // namespace

BOOST_AUTO_TEST_CASE(test_input_flag_runs_one_job_and_prints_the_output) {
  model_dir m;
  sdw::test::serve_process p(m.model, {}, {"--test-input", "job.json"}, runpod_vars,
                             {{"job.json", R"({"input":{"prompt":"a cat","steps":3,"width":64,"height":64,"seed":8}})"}});
  BOOST_TEST_REQUIRE(p.wait_exit(60s) == 0, p.log());
  // stdout holds the result alone; logs go to stderr.
  const json_value r = sdw::parse_json(p.out());
  BOOST_TEST(r.find("error") == nullptr);
  const auto& images = r.find("output")->find("images")->as_array();
  BOOST_TEST_REQUIRE(images.size() == 1u);
  const auto png = sdw::decode_png(sdw::base64_decode(images[0].as_string()));
  BOOST_TEST(png.width == 64);
  BOOST_TEST(png.text.at("parameters").find("Seed: 8,") != std::string::npos);
  BOOST_TEST(p.log().find("local_test completed successfully") != std::string::npos, p.log());
}

BOOST_AUTO_TEST_CASE(a_bad_test_input_exits_1_with_an_error_naming_the_field) {
  model_dir m;
  sdw::test::serve_process p(m.model, {}, {"--test-input", "job.json"}, runpod_vars,
                             {{"job.json", R"({"input":{"steps":3,"width":65,"height":64}})"}});
  BOOST_TEST_REQUIRE(p.wait_exit(60s) == 1, p.log());
  const json_value r = result_of(p);
  BOOST_TEST(r.find("output") == nullptr);
  const json_value e = sdw::parse_json(r.find("error")->as_string());
  BOOST_TEST(e.find("field")->as_string() == "width");
}

// As the SDK's --test_input takes it: the job's JSON on the command line.
BOOST_AUTO_TEST_CASE(test_input_may_be_the_json_itself) {
  model_dir m;
  sdw::test::serve_process p(m.model, {}, {"--test-input", R"({"input":{"steps":2,"width":64,"height":64,"seed":3}})"},
                             runpod_vars);
  BOOST_TEST_REQUIRE(p.wait_exit(60s) == 0, p.log());
  BOOST_TEST(result_of(p).find("output")->find("images")->as_array().size() == 1u);
}

BOOST_AUTO_TEST_CASE(test_input_json_in_the_working_folder_is_used_without_runpod_vars) {
  model_dir m;
  sdw::test::serve_process p(m.model, {}, {}, runpod_vars,
                             {{"test_input.json", R"({"input":{"prompt":"x","steps":2,"width":64,"height":64}})"}});
  BOOST_TEST_REQUIRE(p.wait_exit(60s) == 0, p.log());
  BOOST_TEST(result_of(p).find("output")->find("images")->as_array().size() == 1u);
}

BOOST_AUTO_TEST_CASE(without_a_test_input_it_says_so_and_exits_1) {
  model_dir m;
  sdw::test::serve_process p(m.model, {}, {}, runpod_vars);
  BOOST_TEST(p.wait_exit(60s) == 1);
  BOOST_TEST(p.log().find("test_input.json not found, exiting.") != std::string::npos, p.log());
  BOOST_TEST(p.out().empty());
}
