#define BOOST_TEST_MODULE api_auth
#include <boost/test/unit_test.hpp>

#define _TURN_OFF_PLATFORM_STRING
#include "runtime/base/encoding.hpp"
#include "tests/support/api_server.hpp"

#include <string>

using sdw::test::member;

namespace {

sdw::test::api_server& server() {
  auto& s = sdw::test::checked_shared_api_server({"--api-auth", "alice:secret,bob:pass:word"});
  return s.server;
}

using header_list = std::vector<std::pair<std::string, std::string>>;

header_list basic(const std::string& user_password) {
  return {{"Authorization", "Basic " + sdw::base64_encode(user_password)}};
}

std::string unauthorized(const std::string& detail) {
  return R"({"error":"HTTPException","detail":")" + detail + R"(","body":"","errors":""})";
}

} // namespace

BOOST_AUTO_TEST_CASE(a1111_routes_answer_401_with_a1111_bodies) {
  auto& s = server();
  auto r = s.call("GET", "/sdapi/v1/samplers");
  BOOST_TEST(r.status == 401);
  BOOST_TEST(r.body == unauthorized("Not authenticated"));
  r = s.call("GET", "/sdapi/v1/samplers", "", {{"Authorization", "Bearer local"}});
  BOOST_TEST(r.body == unauthorized("Not authenticated"));
  r = s.call("GET", "/sdapi/v1/options", "", {{"Authorization", "Basic %%%not-base64%%%"}});
  BOOST_TEST(r.status == 401);
  BOOST_TEST(r.body == unauthorized("Invalid authentication credentials"));
  r = s.call("GET", "/sdapi/v1/options", "", basic("no colon here"));
  BOOST_TEST(r.body == unauthorized("Invalid authentication credentials"));
  r = s.call("GET", "/sdapi/v1/options", "", basic("alice:wrong"));
  BOOST_TEST(r.status == 401);
  BOOST_TEST(r.body == unauthorized("Incorrect username or password"));
  r = s.call("GET", "/sdapi/v1/options", "", basic("mallory:secret"));
  BOOST_TEST(r.body == unauthorized("Incorrect username or password"));
}

BOOST_AUTO_TEST_CASE(the_right_credentials_get_200) {
  auto& s = server();
  BOOST_TEST(s.call("GET", "/sdapi/v1/samplers", "", basic("alice:secret")).status == 200);
  // Only the first ':' separates user and password.
  BOOST_TEST(s.call("GET", "/sdapi/v1/progress", "", basic("bob:pass:word")).status == 200);
  const auto r = s.call("POST", "/sdapi/v1/txt2img", R"({"prompt":"x","steps":2,"width":64,"height":64})",
                        basic("alice:secret"));
  BOOST_TEST(r.status == 200, r.body.substr(0, 300));
  BOOST_TEST(member(r.json, "images").as_array().size() == 1u);
}

BOOST_AUTO_TEST_CASE(malformed_json_is_422_before_auth_and_bad_fields_401_after) {
  auto& s = server();
  auto r = s.call("POST", "/sdapi/v1/txt2img", "{not json");
  BOOST_TEST(r.status == 422);
  BOOST_TEST(r.body.find("value_error.jsondecode") != std::string::npos, r.body);
  r = s.call("POST", "/sdapi/v1/txt2img", R"({"steps":"many"})");
  BOOST_TEST(r.status == 401);
  r = s.call("POST", "/sdapi/v1/txt2img", R"({"steps":"many"})", basic("alice:secret"));
  BOOST_TEST(r.status == 422);
  BOOST_TEST(r.body.find(R"("loc":["body","steps"])") != std::string::npos, r.body);
  // Unknown routes and wrong methods are answered before auth, as FastAPI routes first.
  BOOST_TEST(s.call("GET", "/sdapi/v1/nope").status == 404);
  BOOST_TEST(s.call("GET", "/sdapi/v1/txt2img").status == 405);
}

// RunPod's clients send "Authorization: Bearer <api key>", so the RunPod routes and /health
// stay open; --api-auth guards the A1111 API only.
BOOST_AUTO_TEST_CASE(runpod_routes_and_health_do_not_ask_for_basic_auth) {
  auto& s = server();
  BOOST_TEST(s.call("GET", "/health").status == 200);
  const auto r = s.call("POST", "/v2/local/runsync", R"({"input":{"prompt":"x","steps":2,"width":64,"height":64}})",
                        {{"Authorization", "Bearer local"}});
  BOOST_TEST(r.status == 200);
  BOOST_TEST(member(r.json, "status").as_string() == "COMPLETED");
}
