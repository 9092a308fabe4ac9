#define BOOST_TEST_MODULE api_model_failure
#include <boost/test/unit_test.hpp>

#define _TURN_OFF_PLATFORM_STRING
#include "tests/support/api_server.hpp"
#include "tests/support/zero_dim_model.hpp"

#include <fstream>

using sdw::test::member;

// A checkpoint that cannot be loaded: the server still answers, /health says why, and jobs fail
// with that reason instead of waiting forever.
BOOST_AUTO_TEST_CASE(a_model_that_fails_to_load_is_reported_and_fails_jobs) {
  sdw::test::temp_dir dir;
  const std::string broken = dir.file("broken.safetensors");
  std::ofstream(broken) << "this is not a safetensors file";
  sdw::test::api_server server(broken);
  BOOST_TEST_REQUIRE(server.wait_until_up(), server.log());
  BOOST_TEST_REQUIRE(server.wait_for_state("failed"), server.log());

  const auto health = server.call("GET", "/health");
  const std::string error = member(member(health.json, "model"), "error").as_string();
  BOOST_TEST(error.find("broken.safetensors") != std::string::npos, error);

  const auto run = server.call("POST", "/runsync", R"({"input":{"steps":2,"width":64,"height":64}})");
  BOOST_TEST(member(run.json, "status").as_string() == "FAILED");
  BOOST_TEST(member(run.json, "error").as_string().find("failed to load") != std::string::npos);

  const auto a1111 = server.call("POST", "/sdapi/v1/txt2img", R"({"steps":2,"width":64,"height":64})");
  BOOST_TEST(a1111.status == 500);
  BOOST_TEST(a1111.body.find("broken.safetensors") != std::string::npos, a1111.body);
  BOOST_TEST(server.stop() == 0);
}

// A checkpoint with a zero-sized dimension (which once divided by zero in model detection and
// killed the process): the server stays up and says which file and tensor are at fault.
BOOST_AUTO_TEST_CASE(a_checkpoint_with_a_zero_sized_dimension_is_refused_by_name) {
  sdw::test::temp_dir dir;
  const std::string path = dir.file("zero.safetensors");
  sdw::test::write_zero_dim_checkpoint(path);
  sdw::test::api_server server(path);
  BOOST_TEST_REQUIRE(server.wait_until_up(), server.log());
  BOOST_TEST_REQUIRE(server.wait_for_state("failed"), server.log());
  const std::string error = member(member(server.call("GET", "/health").json, "model"), "error").as_string();
  BOOST_TEST(error.find("zero.safetensors") != std::string::npos, error);
  BOOST_TEST(error.find("tensor '" + sdw::test::zero_dim_tensor + "' has shape [0, 4, 3, 3]") != std::string::npos, error);
  const auto run = server.call("POST", "/runsync", R"({"input":{"steps":2,"width":64,"height":64}})");
  BOOST_TEST(member(run.json, "status").as_string() == "FAILED");
  BOOST_TEST(server.alive());
  BOOST_TEST(server.stop() == 0);
}
