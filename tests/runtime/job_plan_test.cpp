#define BOOST_TEST_MODULE job_plan
#include <boost/test/unit_test.hpp>

// The scheduler's batch key: requests that A1111 clients send with override_settings still batch
// when the overrides are equal or are ones each member keeps for itself; what changes the shared
// sampling loop keeps jobs apart.

#include "runtime/base/json_value.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/formats/txt2img_request.hpp"
#include "runtime/sched/job_plan.hpp"

#include <string>

using namespace sdw;

namespace {

/// The key of a request with these override_settings (and body fields), on top of `stored` options.
std::optional<std::string> key_of(const std::string& overrides, const std::string& extra = "",
                                  const std::string& stored = "{}") {
  const txt2img_request r = parse_txt2img_request(R"({"prompt":"p","steps":20,"width":512,"height":512,"seed":1)" +
                                                  extra +
                                                  (overrides.empty() ? "" : R"(,"override_settings":)" + overrides) +
                                                  "}");
  return plan_job(r, resolve_options(parse_json(stored).as_object(), r.override_settings)).key;
}

} // namespace

BOOST_AUTO_TEST_CASE(equal_overrides_share_a_key_in_any_order) {
  const auto plain = key_of("");
  BOOST_TEST_REQUIRE(plain.has_value());
  const auto eta = key_of(R"({"eta_ancestral":0.5,"s_noise":0.9})");
  BOOST_TEST_REQUIRE(eta.has_value());
  BOOST_TEST(*eta == *key_of(R"({"s_noise":0.9,"eta_ancestral":0.5})"));
  BOOST_TEST(*eta != *plain);
  BOOST_TEST(*key_of("{}") == *plain);
}

BOOST_AUTO_TEST_CASE(noise_clip_skip_emphasis_and_output_options_stay_with_each_member) {
  const auto plain = key_of("");
  BOOST_TEST(*key_of(R"({"CLIP_stop_at_last_layers":2})") == *plain);
  BOOST_TEST(*key_of(R"({"randn_source":"NV","eta_noise_seed_delta":31337})") == *plain);
  BOOST_TEST(*key_of(R"({"emphasis":"No norm","samples_format":"png"})") == *plain);
  BOOST_TEST(*key_of(R"({"sigma_min":0.1,"CLIP_stop_at_last_layers":2})") == *key_of(R"({"sigma_min":0.1})"));
}

BOOST_AUTO_TEST_CASE(overrides_that_change_the_sampling_loop_keep_jobs_apart) {
  const auto plain = key_of("");
  for (const char* o : {R"({"sigma_min":0.1})", R"({"eta_ddim":0.5})", R"({"batch_cond_uncond":false})"}) {
    BOOST_TEST(*key_of(o) != *plain, o);
  }
}

BOOST_AUTO_TEST_CASE(the_model_counts_as_resolved_not_as_named) {
  const txt2img_request r = parse_txt2img_request(R"({"prompt":"x","steps":20,"seed":1})");
  const options o = resolve_options(json_object{}, r.override_settings);
  // Two names of one file are one model; another file or VAE keeps jobs apart.
  options named = o;
  named.sd_model_checkpoint = "a.safetensors [0123456789]";
  BOOST_TEST(*plan_job(r, o, "/m/a.safetensors|").key == *plan_job(r, named, "/m/a.safetensors|").key);
  BOOST_TEST(*plan_job(r, o, "/m/a.safetensors|").key != *plan_job(r, o, "/m/b.safetensors|").key);
  BOOST_TEST(*plan_job(r, o, "/m/a.safetensors|").key != *plan_job(r, o, "/m/a.safetensors|/m/v.safetensors").key);
  BOOST_TEST(plan_job(r, o, "/m/b.safetensors|").model == "/m/b.safetensors|");
}

BOOST_AUTO_TEST_CASE(what_runs_alone_has_no_key) {
  // n_iter batches are members like any other.
  BOOST_TEST(*key_of("", R"(,"n_iter":2)") == *key_of(""));
  BOOST_TEST(!key_of("", R"(,"tiling":true)").has_value());
}

BOOST_AUTO_TEST_CASE(hires_jobs_share_a_key_when_both_passes_are_alike) {
  const std::string hr = R"(,"enable_hr":true,"denoising_strength":0.5,"hr_scale":2)";
  BOOST_TEST_REQUIRE(key_of("", hr).has_value());
  BOOST_TEST(*key_of("", hr) != *key_of(""));
  // The second pass's prompts and the seeds stay per member...
  BOOST_TEST(*key_of("", hr + R"(,"hr_prompt":"sharp")") == *key_of("", hr));
  // ...its size, strength, steps, sampler and upscaler do not.
  BOOST_TEST(*key_of("", hr + R"(,"hr_second_pass_steps":5)") != *key_of("", hr));
  BOOST_TEST(*key_of("", R"(,"enable_hr":true,"denoising_strength":0.6,"hr_scale":2)") != *key_of("", hr));
  BOOST_TEST(*key_of("", R"(,"enable_hr":true,"denoising_strength":0.5,"hr_scale":1.5)") != *key_of("", hr));
  BOOST_TEST(*key_of("", hr + R"(,"hr_upscaler":"Lanczos")") != *key_of("", hr));
  BOOST_TEST(*key_of("", hr + R"(,"hr_sampler_name":"DDIM")") != *key_of("", hr));
}

BOOST_AUTO_TEST_CASE(the_key_reads_resolved_options_wherever_they_came_from) {
  // A stored option and the same value as an override are the same job to the sampling loop.
  const auto stored = key_of("", "", R"({"eta_ancestral":0.5})");
  BOOST_TEST(*stored == *key_of(R"({"eta_ancestral":0.5})"));
  BOOST_TEST(*stored != *key_of(""));
  // An override back to the default matches a job without overrides.
  BOOST_TEST(*key_of(R"({"eta_ancestral":1.0,"sigma_min":0.0})") == *key_of(""));
  // Options the engine does not read (A1111 UI settings) cannot keep jobs apart.
  BOOST_TEST(*key_of(R"({"live_previews_enable":false,"show_progressbar":false})") == *key_of(""));
}

BOOST_AUTO_TEST_CASE(only_jobs_with_the_same_lora_tags_share_a_key) {
  const auto with = [](const std::string& prompt) {
    const txt2img_request r = parse_txt2img_request(R"({"prompt":")" + prompt + R"(","steps":20,"seed":1})");
    return *plan_job(r, resolve_options(json_object{}, r.override_settings)).key;
  };
  BOOST_TEST(with("a cat <lora:x:0.8>") == with("a dog <lora:x:0.8>"));
  BOOST_TEST(with("a cat <lora:x:0.8>") != with("a cat <lora:x:0.9>"));
  BOOST_TEST(with("a cat <lora:x:0.8>") != with("a cat <lora:y:0.8>"));
  BOOST_TEST(with("a cat <lora:x:0.8>") != with("a cat"));
  BOOST_TEST(with("a cat <lora:x:te=1:unet=0.5>") == with("a dog <lora:x:1:0.5>"));
}
