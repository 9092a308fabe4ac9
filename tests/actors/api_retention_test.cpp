#define BOOST_TEST_MODULE api_retention
#include <boost/test/unit_test.hpp>

// Finished jobs are remembered within a byte budget: past it the oldest answers are forgotten
// (their ids answer 404), the newest stay readable, and the worker goes on serving.

#define _TURN_OFF_PLATFORM_STRING
#include "tests/support/api_server.hpp"

#include <fstream>
#include <string>
#include <vector>

using sdw::test::member;

namespace {

// Four 128x128 images per job: answers of some hundred KB each.
const std::string job = R"({"input":{"prompt":"kept","steps":2,"width":128,"height":128,"batch_size":4}})";

std::string status_of(const sdw::test::http_reply& r) {
  const auto& s = member(r.json, "status");
  return s.is_string() ? s.as_string() : "";
}

} // namespace

BOOST_AUTO_TEST_CASE(the_oldest_answers_are_forgotten_past_the_byte_budget) {
  sdw::test::temp_dir dir;
  const std::string ini = dir.file("kept.ini");
  std::ofstream(ini) << "[queue]\nkept-results-mb=1\n";
  sdw::test::api_server server(sdw::test::tiny_model(dir), {"--config", ini});
  BOOST_TEST_REQUIRE(server.wait_until_up(), server.log());

  const auto first = server.call("POST", "/runsync", job);
  BOOST_TEST_REQUIRE(status_of(first) == "COMPLETED", first.body.substr(0, 300));
  const std::string first_id = member(first.json, "id").as_string();
  // Enough jobs for their answers to pass 1 MiB twice over.
  const size_t answer = first.body.size();
  BOOST_TEST_REQUIRE(answer > 10000u);
  const size_t n = 2 * (size_t{1} << 20) / answer + 2;
  std::vector<std::string> ids{first_id};
  for (size_t i = 0; i < n; ++i) {
    const auto r = server.call("POST", "/runsync", job);
    BOOST_TEST_REQUIRE(status_of(r) == "COMPLETED", r.body.substr(0, 300));
    ids.push_back(member(r.json, "id").as_string());
  }

  BOOST_TEST(server.call("GET", "/status/" + first_id).status == 404);
  const auto last = server.call("GET", "/status/" + ids.back());
  BOOST_TEST(status_of(last) == "COMPLETED");
  BOOST_TEST(member(member(last.json, "output"), "images").as_array().size() == 4u);
  // What is still remembered fits the budget (the newest whatever its size): the newest first,
  // then a gap of forgotten ones.
  size_t remembered = 0, bytes = 0;
  bool gap = false;
  for (size_t i = ids.size(); i-- > 0;) {
    const auto r = server.call("GET", "/status/" + ids[i]);
    if (r.status == 200) {
      BOOST_TEST(!gap, "job " << i << " is remembered after an older one was forgotten");
      ++remembered;
      bytes += r.body.size();
    } else {
      BOOST_TEST(r.status == 404);
      gap = true;
    }
  }
  BOOST_TEST(remembered >= 2u);
  BOOST_TEST(remembered < ids.size() / 2 + 1);
  BOOST_TEST(bytes <= (size_t{1} << 20) + answer);
  BOOST_TEST(server.call("GET", "/health").status == 200);
}
