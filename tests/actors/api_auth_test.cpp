#define BOOST_TEST_MODULE api_auth
#include <boost/test/unit_test.hpp>

#define _TURN_OFF_PLATFORM_STRING
#include "runtime/base/encoding.hpp"
#include "tests/support/api_server.hpp"

#include <string>

using sdw::test::member;

namespace {

sdw::test::api_server& server() {
  auto& s = sdw::test::checked_shared_api_server({"--api-auth", "alice:secret,bob:pass:word", "--api-key", "k-123"});
  return s.server;
}

using sdw::test::header_list;

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

BOOST_AUTO_TEST_CASE(the_api_key_opens_the_a1111_routes_as_a_bearer_token) {
  auto& s = server();
  BOOST_TEST(s.call("GET", "/sdapi/v1/samplers", "", {{"Authorization", "Bearer k-123"}}).status == 200);
  BOOST_TEST(s.call("GET", "/sdapi/v1/samplers", "", {{"Authorization", "Bearer k-124"}}).body ==
             unauthorized("Not authenticated"));
}

// RunPod's clients send "Authorization: Bearer <api key>"; the RunPod-style routes take that or
// the basic-auth users, and refuse anything else. /health stays open (http.health-access open).
BOOST_AUTO_TEST_CASE(runpod_routes_ask_for_the_key_or_a_user) {
  auto& s = server();
  BOOST_TEST(s.call("GET", "/health").status == 200);
  const std::string job = R"({"input":{"prompt":"x","steps":2,"width":64,"height":64}})";
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
         {"POST", "/run"}, {"POST", "/runsync"}, {"GET", "/status/x"}, {"POST", "/status/x"},
         {"GET", "/status-sync/x"}, {"GET", "/stream/x"}, {"POST", "/cancel/x"}, {"POST", "/retry/x"},
         {"POST", "/purge-queue"}, {"POST", "/v2/local/run"}, {"POST", "/v2/local/purge-queue"},
         {"GET", "/v2/local/status/x"}}) {
    BOOST_TEST_CONTEXT(method << " " << path) {
      const std::vector<header_list> wrongs = {{},
                                                {{"Authorization", "Bearer k-12"}},
                                                {{"Authorization", "k-1234"}},
                                                basic("alice:wrong"),
                                                basic("mallory:secret"),
                                                {{"Authorization", "Basic %%%"}}};
      for (const auto& wrong : wrongs) {
        const auto r = s.call(method, path, method == "POST" ? job : "", wrong);
        BOOST_TEST(r.status == 401);
        BOOST_TEST(r.body.find("Unauthorized") != std::string::npos, r.body);
      }
    }
  }
  // Purging with credentials works; without them nothing was removed or queued.
  auto r = s.call("POST", "/purge-queue", "", {{"Authorization", "Bearer k-123"}});
  BOOST_TEST(r.status == 200);
  BOOST_TEST(member(r.json, "removed").as_int() == 0);
  r = s.call("POST", "/v2/local/runsync", job, {{"Authorization", "Bearer k-123"}});
  BOOST_TEST(r.status == 200);
  BOOST_TEST(member(r.json, "status").as_string() == "COMPLETED");
  // The bare key, as RunPod also takes it, and a basic-auth user.
  r = s.call("GET", "/status/" + member(r.json, "id").as_string(), "", {{"Authorization", "k-123"}});
  BOOST_TEST(member(r.json, "status").as_string() == "COMPLETED");
  BOOST_TEST(s.call("POST", "/cancel/nope", "", basic("bob:pass:word")).status == 404);
  BOOST_TEST(member(s.call("GET", "/health").json, "jobs").find("completed")->as_int() >= 2);
}

BOOST_AUTO_TEST_CASE(health_can_ask_for_credentials_too) {
  sdw::test::temp_dir models;
  sdw::test::api_server s(sdw::test::tiny_model(models), {"--api-key", "k-9", "--health-access", "auth"});
  BOOST_TEST_REQUIRE(s.wait_until_up_with({{"Authorization", "Bearer k-9"}}), s.log());
  auto r = s.call("GET", "/health");
  BOOST_TEST(r.status == 401);
  BOOST_TEST(r.body.find("Unauthorized") != std::string::npos);
  BOOST_TEST(s.call("GET", "/health", "", {{"Authorization", "Bearer k-9"}}).status == 200);
  BOOST_TEST(s.call("GET", "/sdapi/v1/progress").status == 401);
  BOOST_TEST(s.call("GET", "/sdapi/v1/progress", "", {{"Authorization", "Bearer k-9"}}).status == 200);
}
