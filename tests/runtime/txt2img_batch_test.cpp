#define BOOST_TEST_MODULE txt2img_batch
#include <boost/test/unit_test.hpp>

#include "runtime/engine/clip_tokenizer.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/engine/sd_model.hpp"
#include "runtime/engine/txt2img.hpp"
#include "runtime/engine/txt2img_batch.hpp"
#include "runtime/formats/txt2img_request.hpp"
#include "tests/support/tiny_model.hpp"

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <regex>

// Tolerance. A batched run stacks several requests' rows into one UNet call, so the matrix products
// see a different batch dimension than the same request alone and round differently in the last
// float bits. Measured on CPU (f32, tiny model, 64x64, 4 steps, OMP_NUM_THREADS=1) for every case
// below: most images came out byte-identical, the others had 1 or 2 of their 12288 bytes 1 level
// off (at most 0.02%). The test allows at most 1 level off in at most 0.1% of the bytes (12 of
// 12288) and prints what it sees; infotexts and info JSON (but for the job timestamp) must be equal.

namespace {

struct engine {
  engine()
    : model(sdw::sd_model::load(sdw::test::tiny_model(dir), {"cpu", "f32"})),
      tokenizer(sdw::clip_tokenizer::from_file(sdw::test::clip_vocab())) {}
  sdw::test::temp_dir dir;
  std::shared_ptr<sdw::sd_model> model;
  sdw::clip_tokenizer tokenizer;
};

engine& the_engine() {
  static engine e;
  return e;
}

sdw::batch_member member(const std::string& json) {
  sdw::batch_member m{sdw::parse_txt2img_request(json), {}};
  if (m.request.override_settings) {
    sdw::apply_overrides(m.opts, *m.request.override_settings);
  }
  return m;
}

sdw::txt2img_result alone(const sdw::batch_member& m) {
  auto& e = the_engine();
  return sdw::run_txt2img(*e.model, e.tokenizer, m.request, m.opts);
}

std::string body(const std::string& sampler, const std::string& prompt, const std::string& negative, double cfg,
                 int seed, int batch_size, const std::string& extra = "") {
  return R"({"prompt": ")" + prompt + R"(", "negative_prompt": ")" + negative + R"(", "seed": )" +
         std::to_string(seed) + R"(, "subseed": )" + std::to_string(seed + 1000) + R"(, "cfg_scale": )" + std::to_string(cfg) + R"(, "batch_size": )" +
         std::to_string(batch_size) + R"(, "steps": 4, "width": 64, "height": 64, "sampler_name": ")" + sampler +
         "\"" + extra + R"(, "override_settings": {"randn_source": "CPU"}})";
}

/// Three requests that differ in everything a member keeps for itself.
std::vector<sdw::batch_member> three_members(const std::string& sampler) {
  return {member(body(sampler, "a (red:1.3) fox, ((forest))", "blurry", 7.0, 11, 1)),
          member(body(sampler, "[a cat:a dog:0.5] in a garden", "", 4.5, 22, 2)),
          member(body(sampler, "a house by the sea", "night, fog", 9.0, 33, 1,
                      R"(, "subseed_strength": 0.3)"))};
}

/// The job timestamp is the time the job started; everything else in `info` must match.
std::string without_timestamp(const std::string& info) {
  static const std::regex stamp(R"("job_timestamp": *"[0-9]*")");
  return std::regex_replace(info, stamp, "\"job_timestamp\": \"\"");
}

/// Asserts a batched result equals the member's result alone within the stated tolerance.
void check_equal(const sdw::txt2img_result& batched, const sdw::txt2img_result& single, const std::string& what,
                 size_t permille = 1) {
  BOOST_TEST_CONTEXT(what) {
    BOOST_TEST_REQUIRE(batched.images.size() == single.images.size());
    for (size_t i = 0; i < single.images.size(); ++i) {
      const auto& a = batched.images[i].pixels;
      const auto& b = single.images[i].pixels;
      BOOST_TEST_REQUIRE(a.size() == b.size());
      size_t off = 0;
      int worst = 0;
      for (size_t k = 0; k < a.size(); ++k) {
        const int d = std::abs(int(a[k]) - int(b[k]));
        off += d != 0;
        worst = std::max(worst, d);
      }
      std::cout << what << " image " << i << ": " << off << " of " << a.size() << " bytes differ, max "
                << worst << "\n";
      BOOST_TEST(worst <= 1);
      BOOST_TEST(off * 1000 <= a.size() * permille);
      BOOST_TEST(batched.images[i].infotext == single.images[i].infotext);
    }
    BOOST_TEST(without_timestamp(batched.info_json) == without_timestamp(single.info_json));
    BOOST_TEST(batched.all_seeds == single.all_seeds);
  }
}

/// Runs `members` as one batch of 4-step requests: one sampling run for all, each member equal to
/// its solo run.
void runs_as_one_and_matches_alone(const std::vector<sdw::batch_member>& members, const std::string& label) {
  auto& e = the_engine();
  int steps_seen = 0;
  sdw::batch_hooks hooks;
  hooks.on_step = [&](int, int steps) { steps_seen = steps; };
  const auto out = sdw::run_txt2img_batch(*e.model, e.tokenizer, members, hooks);
  BOOST_TEST(steps_seen == 4);  // one sampling run for all
  for (size_t i = 0; i < members.size(); ++i) {
    BOOST_TEST_REQUIRE(out[i].ok());
    check_equal(*out[i].result, alone(members[i]), label + std::to_string(i));
  }
}

} // namespace

BOOST_AUTO_TEST_CASE(each_member_of_a_batch_gets_what_it_gets_alone) {
  auto& e = the_engine();
  for (const std::string sampler : {"Euler", "Euler a", "DPM++ 2M", "DDIM", "UniPC", "DPM++ 2M SDE"}) {
    const auto members = three_members(sampler);
    const auto key = sdw::batch_key(members[0].request, members[0].opts);
    BOOST_TEST_REQUIRE(key.has_value());
    for (const auto& m : members) {
      BOOST_TEST((sdw::batch_key(m.request, m.opts) == key));
    }
    int steps_seen = 0;
    sdw::batch_hooks hooks;
    hooks.on_step = [&](int, int steps) { steps_seen = steps; };
    const auto out = sdw::run_txt2img_batch(*e.model, e.tokenizer, members, hooks);
    // One sampling run of 4 steps for all three: they shared their UNet calls.
    BOOST_TEST(steps_seen == 4);
    BOOST_TEST_REQUIRE(out.size() == 3u);
    for (size_t i = 0; i < members.size(); ++i) {
      BOOST_TEST_REQUIRE(out[i].ok());
      check_equal(*out[i].result, alone(members[i]), sampler + " member " + std::to_string(i));
    }
    BOOST_TEST(out[1].result->images.size() == 2u);
    BOOST_TEST(out[0].result->images[0].pixels != out[2].result->images[0].pixels);
  }
}

BOOST_AUTO_TEST_CASE(members_with_their_own_rng_source_and_ensd_share_a_run_and_match) {
  auto& e = the_engine();
  for (const std::string sampler : {"Euler a", "DPM++ 2M"}) {
    // Ancestral Euler a draws noise every step, so ENSD changes its images; DPM++ 2M draws once.
    const auto with = [&](const std::string& prompt, int seed, const std::string& overrides) {
      return member(R"({"prompt": ")" + prompt + R"(", "seed": )" + std::to_string(seed) +
                    R"(, "subseed": )" + std::to_string(seed + 1000) + R"(, "steps": 4, "width": 64, "height": 64, "sampler_name": ")" + sampler +
                    R"(", "override_settings": )" + overrides + "}");
    };
    const std::vector<sdw::batch_member> members = {
      with("a red fox", 11, R"({"randn_source": "CPU"})"), with("a blue house", 22, R"({"randn_source": "NV"})"),
      with("a green tree", 33, R"({"randn_source": "GPU", "eta_noise_seed_delta": 31337})"),
      with("a cat", 44, R"({"randn_source": "CPU", "eta_noise_seed_delta": 31337, "CLIP_stop_at_last_layers": 2})")};
    runs_as_one_and_matches_alone(members, sampler + " mixed-source member ");
  }
}

BOOST_AUTO_TEST_CASE(sde_members_keep_their_own_brownian_trees_and_match) {
  auto& e = the_engine();
  // A1111 gives each image of a job its own Brownian tree (or, with no_dpmpp_sde_batch_determinism,
  // one tree for the job's batch), seeded from its seeds and drawing from its RNG source.
  for (const std::string sampler : {"DPM++ SDE", "DPM++ 3M SDE"}) {
    const auto with = [&](const std::string& prompt, int seed, int batch_size, const std::string& overrides) {
      return member(R"({"prompt": ")" + prompt + R"(", "seed": )" + std::to_string(seed) + R"(, "subseed": )" +
                    std::to_string(seed + 1000) + R"(, "batch_size": )" +
                    std::to_string(batch_size) + R"(, "steps": 4, "width": 64, "height": 64, "sampler_name": ")" +
                    sampler + R"(", "override_settings": )" + overrides + "}");
    };
    const std::vector<sdw::batch_member> members = {
      with("a red fox", 11, 2, R"({"randn_source": "CPU"})"),
      with("a blue house", 22, 1, R"({"randn_source": "NV"})"),
      with("a green tree", 33, 2, R"({"randn_source": "GPU", "no_dpmpp_sde_batch_determinism": true})"),
      with("a cat", 44, 1, R"({"randn_source": "NV", "no_dpmpp_sde_batch_determinism": true})")};
    runs_as_one_and_matches_alone(members, sampler + " member ");
  }
}

BOOST_AUTO_TEST_CASE(a_prompt_over_75_tokens_runs_in_its_own_sub_batch_and_matches) {
  auto& e = the_engine();
  std::string long_prompt = "a castle";
  for (int i = 0; i < 40; ++i) {
    long_prompt += ", tower " + std::to_string(i);
  }
  auto members = three_members("Euler a");
  members.push_back(member(body("Euler a", long_prompt, "blurry", 6.0, 44, 1)));
  BOOST_TEST((sdw::batch_key(members[3].request, members[3].opts) ==
              sdw::batch_key(members[0].request, members[0].opts)));
  int steps_seen = 0;
  sdw::batch_hooks hooks;
  hooks.on_step = [&](int, int steps) { steps_seen = steps; };
  const auto out = sdw::run_txt2img_batch(*e.model, e.tokenizer, members, hooks);
  BOOST_TEST(steps_seen == 8);  // two sampling runs: 77-token prompts, then the 154-token one
  for (size_t i = 0; i < members.size(); ++i) {
    BOOST_TEST_REQUIRE(out[i].ok());
    check_equal(*out[i].result, alone(members[i]), "long prompt batch, member " + std::to_string(i));
  }
}

// A request's n_iter batches share sampling runs with each other and with other requests, in runs
// of at most max_images images; each request still gets A1111's seeds per batch, its images in
// batch order and its infotexts, as it does alone.
BOOST_AUTO_TEST_CASE(n_iter_batches_share_runs_and_each_request_matches_its_solo_run) {
  auto& e = the_engine();
  for (const std::string sampler : {"Euler a", "DPM++ 2M SDE"}) {
    const std::vector<sdw::batch_member> members = {
      member(body(sampler, "a lighthouse", "rain", 6.0, 40, 1, R"(, "n_iter": 3)")),
      member(body(sampler, "a (red:1.3) fox", "", 8.0, 50, 2, R"(, "n_iter": 2)")),
      member(body(sampler, "a boat", "", 7.0, 60, 1)),
    };
    // 3 + 4 + 1 images in runs of at most 4: [lighthouse 0-2, boat], [fox 0-1].
    int last_steps = 0;
    sdw::batch_hooks hooks;
    hooks.on_step = [&](int, int steps) { last_steps = steps; };
    const auto out = sdw::run_txt2img_batch(*e.model, e.tokenizer, members, hooks, 4);
    BOOST_TEST(last_steps == 8, sampler);  // two sampling runs of 4 steps for 6 n_iter batches
    BOOST_TEST_REQUIRE(out.size() == 3u);
    for (size_t i = 0; i < members.size(); ++i) {
      BOOST_TEST_REQUIRE(out[i].ok(), sampler << " member " << i);
      check_equal(*out[i].result, alone(members[i]), sampler + " member " + std::to_string(i));
    }
    BOOST_TEST(out[0].result->images.size() == 3u);
    BOOST_TEST(out[1].result->images.size() == 4u);
    BOOST_TEST(out[0].result->all_seeds == (std::vector<int64_t>{40, 41, 42}));
  }
}

// Hires fix: both passes shared. The first passes run as one run, each member's latents are
// upscaled on their own (in latent space, or decoded, resized as pixels and encoded with the
// member's own posterior noise), and the second passes run as one run with each member's hires
// prompts; every image equals the member's solo run.
BOOST_AUTO_TEST_CASE(hires_members_share_both_passes_and_each_matches_its_solo_run) {
  auto& e = the_engine();
  for (const std::string upscaler : {"Latent", "Lanczos"}) {
    const std::string hr = R"(, "enable_hr": true, "denoising_strength": 0.6, "hr_scale": 1.5, "hr_second_pass_steps": 3,
                               "hr_upscaler": ")" + upscaler + "\"";
    const std::vector<sdw::batch_member> members = {
      member(body("Euler a", "a lighthouse", "rain", 6.0, 40, 1, hr + R"(, "n_iter": 2)")),
      member(body("Euler a", "a (red:1.3) fox", "", 8.0, 50, 2, hr + R"(, "hr_prompt": "a sharp fox")")),
      member(body("Euler a", "a boat", "", 7.0, 60, 1, hr)),
    };
    const auto key = sdw::batch_key(members[0].request, members[0].opts);
    BOOST_TEST_REQUIRE(key.has_value());
    for (const auto& m : members) BOOST_TEST((sdw::batch_key(m.request, m.opts) == key));
    int last_step = 0, last_steps = 0;
    sdw::batch_hooks hooks;
    hooks.on_step = [&](int step, int steps) {
      last_step = step;
      last_steps = steps;
    };
    const auto out = sdw::run_txt2img_batch(*e.model, e.tokenizer, members, hooks, 8);
    // One first-pass run of 4 steps and one second-pass run of 3 for all five images.
    BOOST_TEST(last_steps == 7, upscaler);
    BOOST_TEST(last_step == 7, upscaler);
    for (size_t i = 0; i < members.size(); ++i) {
      BOOST_TEST_REQUIRE(out[i].ok(), upscaler << " member " << i);
      const auto single = alone(members[i]);
      // A pixel upscaler rounds the first pass's images to 8 bits: a level that batched rounding
      // flips there travels through the second pass, so a few more bytes may be one level off.
      check_equal(*out[i].result, single, upscaler + " hires member " + std::to_string(i), upscaler == "Latent" ? 1 : 5);
      BOOST_TEST(out[i].result->images[0].width == 96);
    }
    BOOST_TEST(out[0].result->images.size() == 2u);
    BOOST_TEST(out[1].result->images.size() == 2u);
    BOOST_TEST(out[1].result->images[0].infotext.find("Hires prompt: a sharp fox") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(batch_keys_separate_what_cannot_share_a_unet_call) {
  const auto key = [](const std::string& json) {
    auto m = member(json);
    return sdw::batch_key(m.request, m.opts);
  };
  const std::string base = body("Euler a", "x", "", 7, 1, 1);
  const auto k = key(base);
  BOOST_TEST_REQUIRE(k.has_value());
  // What a member keeps for itself does not change the key.
  BOOST_TEST((key(body("Euler a", "other (prompt:1.2)", "neg", 3, 99, 4, R"(, "subseed_strength": 0.5)")) == k));
  BOOST_TEST((key(R"({"prompt": "x", "steps": 4, "width": 64, "height": 64, "sampler_name": "Euler a",
                     "override_settings": {"randn_source": "CPU", "CLIP_stop_at_last_layers": 2}})") == k));
  BOOST_TEST((key(R"({"prompt": "x", "steps": 4, "width": 64, "height": 64, "sampler_name": "Euler a"})") == k));
  BOOST_TEST((key(R"({"prompt": "x", "steps": 4, "width": 64, "height": 64, "sampler_name": "Euler a",
                     "override_settings": {"randn_source": "NV", "eta_noise_seed_delta": 31337}})") == k));
  // What the sampler and denoiser share does.
  BOOST_TEST((key(body("Euler", "x", "", 7, 1, 1)) != k));
  BOOST_TEST((key(body("Euler a", "x", "", 7, 1, 1, R"(, "eta": 0.5)")) != k));
  BOOST_TEST((key(body("Euler a", "x", "", 7, 1, 1, R"(, "scheduler": "Karras")")) != k));
  BOOST_TEST((key(body("Euler a", "x", "", 7, 1, 1, R"(, "s_min_uncond": 1.5)")) != k));
  BOOST_TEST((key(R"({"prompt": "x", "steps": 5, "width": 64, "height": 64, "sampler_name": "Euler a",
                     "override_settings": {"randn_source": "CPU"}})") != k));
  BOOST_TEST((key(R"({"prompt": "x", "steps": 4, "width": 64, "height": 128, "sampler_name": "Euler a",
                     "override_settings": {"randn_source": "CPU"}})") != k));
  BOOST_TEST((key(R"({"prompt": "x", "steps": 4, "width": 64, "height": 64, "sampler_name": "Euler a",
                     "override_settings": {"randn_source": "CPU", "batch_cond_uncond": false}})") != k));
  // n_iter batches are members too.
  BOOST_TEST((key(body("Euler a", "x", "", 7, 1, 1, R"(, "n_iter": 2)")) == k));
  // Hires jobs share with hires jobs whose second pass is alike.
  const std::string hires = R"(, "enable_hr": true, "denoising_strength": 0.5)";
  BOOST_TEST_REQUIRE(key(body("Euler a", "x", "", 7, 1, 1, hires)).has_value());
  BOOST_TEST((key(body("Euler a", "x", "", 7, 1, 1, hires)) != k));
  BOOST_TEST((key(body("Euler a", "y", "", 5, 2, 1, hires + R"(, "hr_prompt": "z")")) == key(body("Euler a", "x", "", 7, 1, 1, hires))));
  BOOST_TEST((key(body("Euler a", "x", "", 7, 1, 1, hires + R"(, "hr_second_pass_steps": 2)")) !=
              key(body("Euler a", "x", "", 7, 1, 1, hires))));
  // Jobs that share with nobody.
  BOOST_TEST(!key(body("DPM adaptive", "x", "", 7, 1, 1)));
  BOOST_TEST(!key(body("No such sampler", "x", "", 7, 1, 1)));
}

BOOST_AUTO_TEST_CASE(a_cancelled_member_ends_cancelled_and_the_others_go_on) {
  auto& e = the_engine();
  const auto members = three_members("DPM++ 2M");
  std::atomic<bool> cancel_first{true}, cancel_second{false}, never{false};
  sdw::batch_hooks hooks;
  hooks.cancel = {&cancel_first, &cancel_second, &never};
  // The second member is cancelled while the batch runs.
  hooks.on_step = [&](int step, int) {
    if (step == 2) {
      cancel_second = true;
    }
  };
  const auto out = sdw::run_txt2img_batch(*e.model, e.tokenizer, members, hooks);
  BOOST_TEST_REQUIRE(out.size() == 3u);
  for (int i : {0, 1}) {
    BOOST_TEST_REQUIRE(!out[i].ok());
    BOOST_TEST_REQUIRE(out[i].failure.has_value());
    BOOST_TEST(out[i].failure->code() == sdw::errc::cancelled);
  }
  BOOST_TEST_REQUIRE(out[2].ok());
  check_equal(*out[2].result, alone(members[2]), "member left after two were cancelled");
}

BOOST_AUTO_TEST_CASE(a_member_that_cannot_run_fails_alone_naming_its_field) {
  auto& e = the_engine();
  std::vector<sdw::batch_member> members{member(body("Euler", "x", "", 7, 1, 1)), member(body("Euler", "x", "", 7, 1, 1))};
  // Past the edge's checks (which refuse the script itself): a script cannot run as a member.
  members[1].request.script_name = "x/y/z plot";
  const auto out = sdw::run_txt2img_batch(*e.model, e.tokenizer, members);
  BOOST_TEST(out[0].ok());
  BOOST_TEST_REQUIRE(out[1].failure.has_value());
  BOOST_TEST(out[1].failure->code() == sdw::errc::unsupported);
  BOOST_TEST(out[1].failure->where() == "script_name");
}

namespace {

/// The member run alone with `flag` (its interrupt or skip) set once `at_step` steps are done.
sdw::txt2img_result alone_stopped_at(const sdw::batch_member& m, int at_step, bool interrupt) {
  auto& e = the_engine();
  std::atomic<bool> flag{false};
  sdw::txt2img_hooks h;
  if (interrupt) {
    h.interrupt = &flag;
  } else {
    h.skip = &flag;
  }
  h.on_step = [&](int step, int) {
    if (step == at_step) {
      flag = true;
    }
  };
  return sdw::run_txt2img(*e.model, e.tokenizer, m.request, m.opts, h);
}

bool same_pixels(const sdw::txt2img_result& a, const sdw::txt2img_result& b) {
  if (a.images.size() != b.images.size()) {
    return false;
  }
  for (size_t i = 0; i < a.images.size(); ++i) {
    if (a.images[i].pixels != b.images[i].pixels) {
      return false;
    }
  }
  return true;
}

} // namespace

BOOST_AUTO_TEST_CASE(an_interrupted_member_gets_what_it_gets_alone_interrupted_and_the_others_go_on) {
  auto& e = the_engine();
  constexpr int k = 2;
  // Euler a draws noise each step, DPM++ 2M keeps a history, DDIM goes through the eps path.
  for (const std::string sampler : {"Euler a", "DPM++ 2M", "DDIM"}) {
    const auto members = three_members(sampler);
    std::atomic<bool> never{false}, interrupt_second{false};
    sdw::batch_hooks hooks;
    hooks.interrupt = {&never, &interrupt_second, &never};
    int last_step = 0;
    hooks.on_step = [&](int step, int) {
      last_step = step;
      if (step == k) {
        interrupt_second = true;
      }
    };
    const auto out = sdw::run_txt2img_batch(*e.model, e.tokenizer, members, hooks);
    BOOST_TEST_REQUIRE(out.size() == 3u);
    BOOST_TEST(last_step > k);  // the run went on past the interrupt
    for (size_t i = 0; i < 3; ++i) {
      BOOST_TEST_REQUIRE(out[i].ok());
    }
    const auto stopped = alone_stopped_at(members[1], k, true);
    const auto full = alone(members[1]);
    BOOST_TEST_REQUIRE(stopped.images.size() == 2u);
    // The interruption shows: the solo interrupted images are not the finished ones.
    BOOST_TEST(!same_pixels(stopped, full));
    check_equal(*out[1].result, stopped, sampler + " interrupted member");
    check_equal(*out[0].result, alone(members[0]), sampler + " member 0 beside an interrupted one");
    check_equal(*out[2].result, alone(members[2]), sampler + " member 2 beside an interrupted one");
  }
}

BOOST_AUTO_TEST_CASE(a_skipped_member_ends_its_image_early_and_a_skip_from_before_the_start_is_dropped) {
  auto& e = the_engine();
  const auto members = three_members("Euler");
  // The first member's skip was set before the batch started: it is cleared, as run_txt2img
  // clears it when an n_iter batch starts, and the member runs to the end.
  std::atomic<bool> skip_first{true}, skip_third{false};
  sdw::batch_hooks hooks;
  hooks.skip = {&skip_first, nullptr, &skip_third};
  hooks.on_step = [&](int step, int) {
    if (step == 1) {
      skip_third = true;
    }
  };
  const auto out = sdw::run_txt2img_batch(*e.model, e.tokenizer, members, hooks);
  for (size_t i = 0; i < 3; ++i) {
    BOOST_TEST_REQUIRE(out[i].ok());
  }
  BOOST_TEST(!skip_first.load());
  check_equal(*out[0].result, alone(members[0]), "member whose early skip was dropped");
  check_equal(*out[1].result, alone(members[1]), "member beside a skipped one");
  const auto stopped = alone_stopped_at(members[2], 1, false);
  BOOST_TEST(!same_pixels(stopped, alone(members[2])));
  check_equal(*out[2].result, stopped, "skipped member");
}

BOOST_AUTO_TEST_CASE(interrupting_every_member_ends_the_run_at_once_with_images) {
  auto& e = the_engine();
  const auto members = three_members("DPM++ 2M");
  std::atomic<bool> interrupt{false};
  sdw::batch_hooks hooks;
  hooks.interrupt = {&interrupt, &interrupt, &interrupt};
  int last_step = 0;
  hooks.on_step = [&](int step, int) {
    last_step = step;
    if (step == 1) {
      interrupt = true;
    }
  };
  const auto out = sdw::run_txt2img_batch(*e.model, e.tokenizer, members, hooks);
  BOOST_TEST(last_step == 1);  // no step after the interrupt
  for (size_t i = 0; i < 3; ++i) {
    BOOST_TEST_REQUIRE(out[i].ok());
    check_equal(*out[i].result, alone_stopped_at(members[i], 1, true), "member " + std::to_string(i) + " interrupted");
  }
  // A member interrupted before the batch starts ends at once with no images, as a job alone.
  const auto late = sdw::run_txt2img_batch(*e.model, e.tokenizer, members, hooks);
  for (size_t i = 0; i < 3; ++i) {
    BOOST_TEST_REQUIRE(late[i].ok());
    BOOST_TEST(late[i].result->images.empty());
  }
}
