#define BOOST_TEST_MODULE a1111_info_api
#include <boost/test/unit_test.hpp>

#include "runtime/formats/a1111_info_api.hpp"
#include "runtime/base/encoding.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/runpod/runpod_api.hpp"

#include <cmath>

using namespace sdw;

namespace {

const json_value& at(const json_value& v, const std::string& key) {
  const json_value* m = v.find(key);
  BOOST_TEST_REQUIRE(m != nullptr, "no key " << key);
  return *m;
}

} // namespace

BOOST_AUTO_TEST_CASE(progress_follows_a1111s_formula) {
  // Step 75 of 3 batches × 150 steps, 10 s after the start.
  const auto v = make_progress_view(75, 450, 3, 1'000'000, 1'010'000);
  BOOST_TEST(v.job_no == 0);
  BOOST_TEST(v.sampling_step == 75);
  BOOST_TEST(v.sampling_steps == 150);
  const json_value p = parse_json(progress_json(v));
  const double progress = 0.01 + 1.0 / 3 * 0.5;
  BOOST_TEST(at(p, "progress").as_number() == progress, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(at(p, "eta_relative").as_number() == 10.0 / progress - 10.0, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(at(at(p, "state"), "job_count").as_int() == 3);
  BOOST_TEST(at(at(p, "state"), "job_timestamp").as_string().size() == 14u);
  BOOST_TEST(at(p, "current_image").is_null());
  // The first step of the second batch.
  const auto second = make_progress_view(151, 450, 3, 0, 1000);
  BOOST_TEST(second.job_no == 1);
  BOOST_TEST(second.sampling_step == 1);
}

BOOST_AUTO_TEST_CASE(idle_progress_is_all_zero) {
  const json_value p = parse_json(progress_json(progress_view{}));
  BOOST_TEST(at(p, "progress").as_number() == 0.0);
  BOOST_TEST(at(p, "eta_relative").as_number() == 0.0);
  BOOST_TEST(at(at(p, "state"), "job").as_string() == "");
  BOOST_TEST(at(at(p, "state"), "job_timestamp").as_string() == "0");
}

BOOST_AUTO_TEST_CASE(memory_reads_memtotal_and_the_resident_set) {
  const json_value m = parse_json(memory_json("MemFree: 5 kB\nMemTotal:       1000 kB\n", 24000));
  BOOST_TEST(at(at(m, "ram"), "total").as_number() == 1024000.0);
  BOOST_TEST(at(at(m, "ram"), "used").as_number() == 24000.0);
  BOOST_TEST(at(at(m, "ram"), "free").as_number() == 1000000.0);
  BOOST_TEST(at(at(m, "cuda"), "error").as_string() == "unavailable");
  const json_value bad = parse_json(memory_json("nothing here", 24000));
  BOOST_TEST(at(at(bad, "ram"), "error").is_string());
  BOOST_TEST(process_rss_bytes() > 0);
}

BOOST_AUTO_TEST_CASE(api_auth_parses_users_and_refuses_entries_without_a_colon) {
  const auto users = parse_api_auth("alice:secret,bob:pa:ss");
  BOOST_TEST_REQUIRE(users.size() == 2u);
  BOOST_TEST(users[1].user == "bob");
  BOOST_TEST(users[1].password == "pa:ss");
  try {
    parse_api_auth("alice:secret,bob");
    BOOST_FAIL("no error");
  } catch (const error& e) {
    BOOST_TEST(e.where() == "--api-auth");
  }
}

BOOST_AUTO_TEST_CASE(basic_auth_answers_as_fastapi_and_a1111) {
  const auto users = parse_api_auth("alice:secret");
  BOOST_TEST(!check_basic_auth(users, "Basic " + base64_encode("alice:secret")));
  BOOST_TEST(!check_basic_auth(users, "basic " + base64_encode("alice:secret")));
  const auto detail = [&](const std::optional<std::string>& header) {
    const auto a = check_basic_auth(users, header);
    BOOST_TEST_REQUIRE(a.has_value());
    BOOST_TEST(a->status == 401);
    return at(parse_json(a->body), "detail").as_string();
  };
  BOOST_TEST(detail(std::nullopt) == "Not authenticated");
  BOOST_TEST(detail("Bearer abc") == "Not authenticated");
  BOOST_TEST(detail("Basic ***") == "Invalid authentication credentials");
  BOOST_TEST(detail("Basic " + base64_encode("alicesecret")) == "Invalid authentication credentials");
  BOOST_TEST(detail("Basic " + base64_encode("alice:Secret")) == "Incorrect username or password");
  BOOST_TEST(detail("Basic " + base64_encode("alice:secret2")) == "Incorrect username or password");
  BOOST_TEST(check_basic_auth(users, std::nullopt)->body ==
             R"({"error":"HTTPException","detail":"Not authenticated","body":"","errors":""})");
}

BOOST_AUTO_TEST_CASE(schedulers_are_a1111s_six) {
  const json_value s = parse_json(schedulers_json());
  BOOST_TEST_REQUIRE(s.as_array().size() == 6u);
  BOOST_TEST(at(s.as_array()[0], "name").as_string() == "automatic");
  BOOST_TEST(at(s.as_array()[1], "need_inner_model").as_bool() == true);
  BOOST_TEST(at(s.as_array()[4], "default_rho").as_number() == 1.0);
  BOOST_TEST(at(s.as_array()[3], "aliases").is_null());
}

BOOST_AUTO_TEST_CASE(wait_values_are_whole_milliseconds_clamped) {
  BOOST_TEST(parse_wait_ms(std::nullopt, 90000, 1000, 300000) == 90000);
  BOOST_TEST(parse_wait_ms(std::string("500"), 90000, 1000, 300000) == 1000);
  BOOST_TEST(parse_wait_ms(std::string("999999999"), 90000, 1000, 300000) == 300000);
  BOOST_TEST(parse_wait_ms(std::string("2500"), 90000, 1000, 300000) == 2500);
  for (const char* bad : {"abc", "-5", "1.5", "1e3", "99999999999999999999"}) {
    try {
      parse_wait_ms(std::string(bad), 90000, 1000, 300000);
      BOOST_FAIL("no error for " << bad);
    } catch (const error& e) {
      BOOST_TEST(e.where() == "wait");
    }
  }
}

BOOST_AUTO_TEST_CASE(stream_and_purge_have_runpods_shapes) {
  BOOST_TEST(runpod_stream_json("j1", "IN_PROGRESS") == R"({"id":"j1","status":"IN_PROGRESS","stream":[]})");
  BOOST_TEST(runpod_purge_json(3) == R"({"removed":3,"status":"completed"})");
  BOOST_TEST(is_final_status("CANCELLED"));
  BOOST_TEST(!is_final_status("IN_QUEUE"));
}
