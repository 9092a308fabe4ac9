#define BOOST_TEST_MODULE api_control
#include <boost/test/unit_test.hpp>

#define _TURN_OFF_PLATFORM_STRING
#include "runtime/base/encoding.hpp"
#include "runtime/base/png_codec.hpp"
#include "tests/support/api_server.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <future>
#include <string>

using sdw::json_value;
using sdw::test::images_of;
using sdw::test::member;

namespace {

sdw::test::shared_server& start_server() {
  auto& s = sdw::test::checked_shared_api_server({});
  return s;
}

sdw::test::http_reply call(const std::string& method, const std::string& path, const std::string& body = "") {
  return start_server().server.call(method, path, body);
}

/// Sampling steps the worker has run so far, from /metrics: work done, whatever the clock says.
double steps_run() {
  const std::string text = call("GET", "/metrics").body;
  const std::string name = "\nsdworker_sampling_steps_total ";
  const size_t at = text.find(name);
  BOOST_TEST_REQUIRE(at != std::string::npos, text.substr(0, 300));
  return std::stod(text.substr(at + name.size()));
}

/// Polls /sdapi/v1/progress until a job has done at least one sampler step (or 30 s pass).
json_value wait_until_sampling() {
  json_value p;
  for (int i = 0; i < 3000; ++i) {
    p = call("GET", "/sdapi/v1/progress").json;
    if (member(member(p, "state"), "sampling_step").as_int() >= 1) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return p;
}

const std::string long_a1111 =
  R"({"prompt":"long","steps":150,"n_iter":3,"width":64,"height":64,"seed":21,"sampler_name":"Euler"})";

} // namespace

BOOST_AUTO_TEST_CASE(options_list_every_key_and_keep_what_is_posted) {
  start_server();
  const auto before = call("GET", "/sdapi/v1/options");
  BOOST_TEST_REQUIRE(before.status == 200);
  BOOST_TEST(before.json.as_object().size() == 314u);
  BOOST_TEST(member(before.json, "send_seed").as_bool() == true);
  BOOST_TEST(member(before.json, "CLIP_stop_at_last_layers").as_int() == 1);
  BOOST_TEST(member(before.json, "sd_model_checkpoint").as_string().rfind("tiny.safetensors", 0) == 0);

  const auto post = call("POST", "/sdapi/v1/options", R"({"CLIP_stop_at_last_layers":2,"jpeg_quality":91})");
  BOOST_TEST(post.status == 200, post.body);
  BOOST_TEST(post.body == "null");
  const auto after = call("GET", "/sdapi/v1/options");
  BOOST_TEST(member(after.json, "CLIP_stop_at_last_layers").as_int() == 2);
  BOOST_TEST(member(after.json, "jpeg_quality").as_int() == 91);
  // The loaded checkpoint may be selected by its file name.
  BOOST_TEST(call("POST", "/sdapi/v1/options", R"({"sd_model_checkpoint":"tiny.safetensors"})").status == 200);
}

BOOST_AUTO_TEST_CASE(a_job_started_after_posting_options_runs_with_them) {
  start_server();
  const std::string job = R"({"prompt":"x","steps":2,"width":64,"height":64,"seed":4})";
  BOOST_TEST_REQUIRE(call("POST", "/sdapi/v1/options", R"({"CLIP_stop_at_last_layers":2})").status == 200);
  const auto two = images_of(call("POST", "/sdapi/v1/txt2img", job));
  BOOST_TEST_REQUIRE(two.size() == 1u);
  BOOST_TEST(two[0].text.at("parameters").find("Clip skip: 2") != std::string::npos, two[0].text.at("parameters"));
  BOOST_TEST_REQUIRE(call("POST", "/sdapi/v1/options", R"({"CLIP_stop_at_last_layers":1})").status == 200);
  const auto one = images_of(call("POST", "/sdapi/v1/txt2img", job));
  BOOST_TEST_REQUIRE(one.size() == 1u);
  BOOST_TEST(one[0].text.at("parameters").find("Clip skip") == std::string::npos, one[0].text.at("parameters"));
  BOOST_TEST((one[0].pixels != two[0].pixels));
}

BOOST_AUTO_TEST_CASE(progress_is_zero_when_idle_and_counts_steps_while_a_job_runs) {
  start_server();
  const auto idle = call("GET", "/sdapi/v1/progress");
  BOOST_TEST_REQUIRE(idle.status == 200);
  BOOST_TEST(member(idle.json, "progress").as_number() == 0.0);
  BOOST_TEST(member(member(idle.json, "state"), "job_count").as_int() == 0);
  BOOST_TEST(member(idle.json, "current_image").is_null());

  auto job = std::async(std::launch::async, [] { return call("POST", "/sdapi/v1/txt2img", long_a1111); });
  const json_value p = wait_until_sampling();
  const json_value& state = member(p, "state");
  BOOST_TEST(member(state, "sampling_steps").as_int() == 150);
  BOOST_TEST(member(state, "job_count").as_int() == 3);
  BOOST_TEST(member(state, "job").as_string() == "scripts_txt2img");
  BOOST_TEST(member(p, "progress").as_number() > 0.01);
  BOOST_TEST(member(p, "progress").as_number() < 1.0);
  BOOST_TEST(member(p, "eta_relative").as_number() > 0.0);
  call("POST", "/sdapi/v1/interrupt");
  BOOST_TEST(job.get().status == 200);
}

BOOST_AUTO_TEST_CASE(interrupt_ends_the_job_early_with_the_image_reached_so_far) {
  auto job = std::async(std::launch::async, [] { return call("POST", "/sdapi/v1/txt2img", long_a1111); });
  wait_until_sampling();
  const auto r = call("POST", "/sdapi/v1/interrupt");
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body == "{}");
  const auto done = job.get();
  BOOST_TEST_REQUIRE(done.status == 200, done.body.substr(0, 300));
  // One image: the first batch, decoded from where it was; the other two batches never ran.
  const auto imgs = images_of(done);
  BOOST_TEST_REQUIRE(imgs.size() == 1u);
  BOOST_TEST(imgs[0].width == 64);
  BOOST_TEST(imgs[0].text.at("parameters").find("Seed: 21,") != std::string::npos);
  // It stopped early: the image is not the one its seed gives after all 150 steps (compared by
  // pixels, not by time).
  const auto full = images_of(call("POST", "/sdapi/v1/txt2img",
                                   R"({"prompt":"long","steps":150,"width":64,"height":64,"seed":21,"sampler_name":"Euler"})"));
  BOOST_TEST_REQUIRE(full.size() == 1u);
  BOOST_TEST((imgs[0].pixels != full[0].pixels));
}

// Timestep samplers predict noise: the interrupted image is decoded from the x0 it implies.
BOOST_AUTO_TEST_CASE(interrupt_works_for_timestep_samplers) {
  for (const char* sampler : {"DDIM", "UniPC"}) {
    const std::string body = std::string(R"({"prompt":"ts","steps":150,"n_iter":2,"width":64,"height":64,"seed":5,)") +
                             R"("sampler_name":")" + sampler + R"("})";
    auto job = std::async(std::launch::async, [&] { return call("POST", "/sdapi/v1/txt2img", body); });
    wait_until_sampling();
    BOOST_TEST(call("POST", "/sdapi/v1/interrupt").status == 200);
    const auto done = job.get();
    BOOST_TEST_REQUIRE(done.status == 200, sampler << ": " << done.body.substr(0, 300));
    const auto imgs = images_of(done);
    BOOST_TEST_REQUIRE(imgs.size() == 1u, sampler);
    // Not a flat image: the prediction carries structure.
    const auto [lo, hi] = std::minmax_element(imgs[0].pixels.begin(), imgs[0].pixels.end());
    BOOST_TEST(*hi > *lo, sampler);
  }
}

BOOST_AUTO_TEST_CASE(skip_ends_the_current_batch_and_the_job_goes_on) {
  const std::string body =
    R"({"prompt":"skip","steps":150,"n_iter":2,"width":64,"height":64,"seed":31,"sampler_name":"Euler"})";
  auto job = std::async(std::launch::async, [&] { return call("POST", "/sdapi/v1/txt2img", body); });
  wait_until_sampling();
  const auto r = call("POST", "/sdapi/v1/skip");
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body == "null");
  const auto done = job.get();
  BOOST_TEST_REQUIRE(done.status == 200, done.body.substr(0, 300));
  // Both batches give an image; only the second ran all of its steps.
  const auto imgs = images_of(done);
  BOOST_TEST_REQUIRE(imgs.size() == 2u);
  BOOST_TEST(imgs[1].text.at("parameters").find("Seed: 32,") != std::string::npos);
  // The first batch stopped early: its image is not the one its seed gives after all 150 steps.
  const auto full = images_of(call("POST", "/sdapi/v1/txt2img",
                                   R"({"prompt":"skip","steps":150,"width":64,"height":64,"seed":31,"sampler_name":"Euler"})"));
  BOOST_TEST_REQUIRE(full.size() == 1u);
  BOOST_TEST((imgs[0].pixels != full[0].pixels));
}

BOOST_AUTO_TEST_CASE(a_cancelled_long_job_ends_well_before_its_steps_could_have_run) {
  const double steps_before = steps_run();
  const auto run = call("POST", "/run",
                        R"({"input":{"prompt":"cancel me","steps":150,"n_iter":4,"width":64,"height":64}})");
  BOOST_TEST_REQUIRE(run.status == 200);
  const std::string id = member(run.json, "id").as_string();
  wait_until_sampling();
  BOOST_TEST(member(call("POST", "/cancel/" + id).json, "status").as_string() == "CANCELLED");
  // status-sync answers as soon as the job is final.
  const auto final = call("GET", "/status-sync/" + id + "?wait=60000");
  BOOST_TEST(member(final.json, "status").as_string() == "CANCELLED");
  // The executor is free again: the next job runs after the cancelled one stopped sampling, which
  // ran a small part of its 600 steps (counted, not timed).
  const auto next = call("POST", "/runsync", R"({"input":{"prompt":"x","steps":2,"width":64,"height":64}})");
  BOOST_TEST(member(next.json, "status").as_string() == "COMPLETED");
  const double ran = steps_run() - steps_before - 2;
  BOOST_TEST(ran < 0.25 * 600, ran << " of the cancelled job's 600 steps ran");
}

BOOST_AUTO_TEST_CASE(schedulers_memory_and_refreshed_checkpoints) {
  auto& s = start_server();
  const auto sch = call("GET", "/sdapi/v1/schedulers");
  BOOST_TEST_REQUIRE(sch.status == 200);
  BOOST_TEST_REQUIRE(sch.json.as_array().size() == 6u);
  BOOST_TEST(member(sch.json.as_array()[2], "name").as_string() == "karras");
  BOOST_TEST(member(sch.json.as_array()[2], "default_rho").as_number() == 7.0);
  BOOST_TEST(member(sch.json.as_array()[5], "aliases").as_array().at(0).as_string() == "SGMUniform");

  const auto mem = call("GET", "/sdapi/v1/memory");
  BOOST_TEST_REQUIRE(mem.status == 200);
  const auto& ram = member(mem.json, "ram");
  BOOST_TEST(member(ram, "used").as_number() > 1e6);
  BOOST_TEST(member(ram, "total").as_number() > member(ram, "used").as_number());
  BOOST_TEST(member(member(mem.json, "cuda"), "error").as_string() == "unavailable");

  const auto listed = call("GET", "/sdapi/v1/sd-models");
  BOOST_TEST_REQUIRE(listed.json.as_array().size() == 1u);
  // A checkpoint copied into the models folder shows after a refresh; the loaded one keeps its hash.
  std::filesystem::create_directories(s.server.dir().dir / "Stable-diffusion");
  std::filesystem::copy_file(s.model, s.server.dir().dir / "Stable-diffusion" / "second.safetensors");
  BOOST_TEST(call("GET", "/sdapi/v1/sd-models").json.as_array().size() == 1u);
  const auto refresh = call("POST", "/sdapi/v1/refresh-checkpoints");
  BOOST_TEST(refresh.status == 200);
  BOOST_TEST(refresh.body == "null");
  const auto models = call("GET", "/sdapi/v1/sd-models").json.as_array();
  BOOST_TEST_REQUIRE(models.size() == 2u);
  for (const auto& m : models) {
    const std::string name = member(m, "model_name").as_string();
    BOOST_TEST((name == "second" || name == "tiny"));
    if (name == "tiny") {
      BOOST_TEST(member(m, "sha256").is_string());
    } else {
      BOOST_TEST(member(m, "sha256").is_null());
    }
  }
}
