#define BOOST_TEST_MODULE api_batch_overrides
#include <boost/test/unit_test.hpp>
// Batching across requests for what A1111 clients really send: four queued /sdapi/v1/txt2img
// requests whose override_settings give each its own RNG source, ENSD and CLIP skip, and that
// differ in prompt, CFG scale and seed, and one with n_iter 3, run in fewer executor batches than
// jobs, and each answer equals the same request run alone.

#define _TURN_OFF_PLATFORM_STRING
#include "tests/support/api_server.hpp"

#include <cstdlib>
#include <future>
#include <string>
#include <vector>

using sdw::test::images_of;
using sdw::test::member;

namespace {

std::string request(const std::string& prompt, double cfg, int seed, const std::string& source, int ensd,
                    int clip_skip, int n_iter = 1) {
  return R"({"prompt":")" + prompt + R"(","negative_prompt":"blurry","n_iter":)" + std::to_string(n_iter) +
         R"(,"cfg_scale":)" + std::to_string(cfg) +
         R"(,"seed":)" + std::to_string(seed) + R"(,"steps":6,"width":64,"height":64,"sampler_name":"Euler a",)" +
         R"("override_settings":{"randn_source":")" + source + R"(","eta_noise_seed_delta":)" + std::to_string(ensd) +
         R"(,"CLIP_stop_at_last_layers":)" + std::to_string(clip_skip) + "}}";
}

int64_t batches_so_far(sdw::test::api_server& s) {
  const auto h = s.call("GET", "/health");
  return static_cast<int64_t>(member(member(h.json, "devices").as_array().at(0), "batches").as_number());
}

/// A batched image against the same request's image alone: the same infotext, and (batched UNet
/// calls round differently) at most one level off in at most 0.1 % of bytes.
void expect_alike(const sdw::decoded_png& batched, const sdw::decoded_png& alone) {
  BOOST_TEST(batched.text.at("parameters") == alone.text.at("parameters"));
  BOOST_TEST_REQUIRE(batched.pixels.size() == alone.pixels.size());
  size_t off = 0;
  int worst = 0;
  for (size_t k = 0; k < batched.pixels.size(); ++k) {
    const int d = std::abs(int(batched.pixels[k]) - int(alone.pixels[k]));
    off += d != 0;
    worst = std::max(worst, d);
  }
  BOOST_TEST(worst <= 1);
  BOOST_TEST(off * 1000 <= batched.pixels.size());
}

} // namespace

BOOST_AUTO_TEST_CASE(requests_with_override_settings_batch_and_equal_their_solo_runs) {
  auto& s = sdw::test::checked_shared_api_server({"--max-batch", "8"});
  const std::vector<std::string> bodies = {request("a red fox", 7, 11, "CPU", 0, 1),
                                           request("a blue house by the sea", 4.5, 22, "NV", 31337, 2),
                                           request("(a green tree:1.2)", 9, 33, "GPU", 0, 1),
                                           request("a cat", 6, 44, "CPU", 31337, 2),
                                           request("a dog on a hill", 5, 55, "NV", 0, 1, 3)};
  const std::vector<size_t> images = {1, 1, 1, 1, 3};
  // A long job holds the device while the four queue behind it.
  const auto blocker = s.server.call(
    "POST", "/run", R"({"input":{"prompt":"hold","steps":150,"width":256,"height":256,"seed":1,"sampler_name":"Euler"}})");
  BOOST_TEST_REQUIRE(blocker.status == 200, blocker.body);
  const int64_t before = batches_so_far(s.server);
  std::vector<std::future<sdw::test::http_reply>> batched;
  for (const auto& b : bodies) {
    batched.push_back(std::async(std::launch::async, [&s, b] { return s.server.call("POST", "/sdapi/v1/txt2img", b); }));
  }
  std::vector<sdw::test::http_reply> together;
  for (auto& f : batched) together.push_back(f.get());
  const int64_t used = batches_so_far(s.server) - before;
  BOOST_TEST_MESSAGE("5 requests ran in " << used << " executor batches");
  // One batch for the five (two if the blocker had not started when `before` was read); five or
  // six when each ran alone.
  BOOST_TEST(used <= 2);

  // Each alone, one after another, equals its batched answer.
  for (size_t i = 0; i < bodies.size(); ++i) {
    BOOST_TEST_CONTEXT("request " << i) {
      const auto alone = s.server.call("POST", "/sdapi/v1/txt2img", bodies[i]);
      BOOST_TEST_REQUIRE(alone.status == 200, alone.body.substr(0, 300));
      BOOST_TEST_REQUIRE(together[i].status == 200, together[i].body.substr(0, 300));
      const auto a = images_of(together[i]), b = images_of(alone);
      BOOST_TEST_REQUIRE(a.size() == images[i]);
      BOOST_TEST_REQUIRE(b.size() == images[i]);
      for (size_t j = 0; j < a.size(); ++j) {
        expect_alike(a[j], b[j]);
      }
      // A1111's seeds per n_iter batch: seed, seed + 1, ...
      const auto seeds = member(together[i].json.find("info") ? sdw::parse_json(member(together[i].json, "info").as_string())
                                                               : sdw::json_value(), "all_seeds").as_array();
      BOOST_TEST(seeds.size() == images[i]);
    }
  }
}

// Hires fix requests share both passes with hires requests whose second pass is alike.
BOOST_AUTO_TEST_CASE(hires_requests_batch_and_equal_their_solo_runs) {
  auto& s = sdw::test::checked_shared_api_server({"--max-batch", "8"});
  const auto hires = [](const std::string& prompt, const std::string& hr_prompt, int seed) {
    return R"({"prompt":")" + prompt + R"(","hr_prompt":")" + hr_prompt + R"(","seed":)" + std::to_string(seed) +
           R"(,"steps":4,"width":64,"height":64,"sampler_name":"Euler a","enable_hr":true,"hr_scale":1.5,)" +
           R"("denoising_strength":0.5,"hr_second_pass_steps":3,"override_settings":{"randn_source":"CPU"}})";
  };
  const std::vector<std::string> bodies = {hires("a red fox", "", 11), hires("a blue house", "a sharp blue house", 22),
                                           hires("a green tree", "", 33)};
  const auto blocker = s.server.call(
    "POST", "/run", R"({"input":{"prompt":"hold","steps":150,"width":256,"height":256,"seed":1,"sampler_name":"Euler"}})");
  BOOST_TEST_REQUIRE(blocker.status == 200, blocker.body);
  const int64_t before = batches_so_far(s.server);
  std::vector<std::future<sdw::test::http_reply>> batched;
  for (const auto& b : bodies) {
    batched.push_back(std::async(std::launch::async, [&s, b] { return s.server.call("POST", "/sdapi/v1/txt2img", b); }));
  }
  std::vector<sdw::test::http_reply> together;
  for (auto& f : batched) together.push_back(f.get());
  const int64_t used = batches_so_far(s.server) - before;
  BOOST_TEST_MESSAGE("3 hires requests ran in " << used << " executor batches");
  BOOST_TEST(used <= 2);
  for (size_t i = 0; i < bodies.size(); ++i) {
    BOOST_TEST_CONTEXT("request " << i) {
      const auto alone = s.server.call("POST", "/sdapi/v1/txt2img", bodies[i]);
      BOOST_TEST_REQUIRE(alone.status == 200, alone.body.substr(0, 300));
      BOOST_TEST_REQUIRE(together[i].status == 200, together[i].body.substr(0, 300));
      const auto a = images_of(together[i]), b = images_of(alone);
      BOOST_TEST_REQUIRE(a.size() == 1u);
      BOOST_TEST_REQUIRE(b.size() == 1u);
      BOOST_TEST(a[0].width == 96);
      expect_alike(a[0], b[0]);
    }
  }
}
