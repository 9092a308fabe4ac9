#define BOOST_TEST_MODULE infotext
#include <boost/test/unit_test.hpp>

#include "runtime/formats/infotext.hpp"

using namespace sdw;

namespace {

infotext_input cat_request() {
  infotext_input in;
  in.prompt = "a cat";
  in.steps = 20;
  in.sampler_name = "Euler";
  in.cfg_scale = 7.0;
  in.seed = 1;
  in.width = 512;
  in.height = 512;
  in.model_hash = "6ce0161689";
  in.model_name = "v1-5-pruned-emaonly";
  in.version = "v1.9.4";
  return in;
}

} // namespace

BOOST_AUTO_TEST_CASE(plain_euler_example) {
  BOOST_TEST(create_infotext(cat_request()) ==
             "a cat\nSteps: 20, Sampler: Euler, CFG scale: 7.0, Seed: 1, Size: 512x512, Model hash: 6ce0161689, "
             "Model: v1-5-pruned-emaonly, Version: v1.9.4");
}

BOOST_AUTO_TEST_CASE(dpmpp_2m_example_puts_schedule_type_in_its_slot) {
  infotext_input in = cat_request();
  in.negative_prompt = "blurry";
  in.sampler_name = "DPM++ 2M";
  in.extra_params = {{"Schedule type", "Karras"}};
  BOOST_TEST(create_infotext(in) ==
             "a cat\nNegative prompt: blurry\nSteps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.0, "
             "Seed: 1, Size: 512x512, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Version: v1.9.4");
}

BOOST_AUTO_TEST_CASE(eta_follows_model_and_denoising_has_its_slot) {
  infotext_input in = cat_request();
  in.sampler_name = "Euler a";
  in.extra_params = {{"Eta", "0.0"}};
  BOOST_TEST(create_infotext(in) ==
             "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7.0, Seed: 1, Size: 512x512, Model hash: 6ce0161689, "
             "Model: v1-5-pruned-emaonly, Eta: 0.0, Version: v1.9.4");
  in.extra_params = {{"Denoising strength", "0.75"}};
  in.sampler_name = "Euler";
  BOOST_TEST(create_infotext(in) ==
             "a cat\nSteps: 20, Sampler: Euler, CFG scale: 7.0, Seed: 1, Size: 512x512, Model hash: 6ce0161689, "
             "Model: v1-5-pruned-emaonly, Denoising strength: 0.75, Version: v1.9.4");
}

BOOST_AUTO_TEST_CASE(optional_entries_in_fixed_order) {
  infotext_input in = cat_request();
  in.subseed = 42;
  in.subseed_strength = 0.25;
  in.seed_resize_from_w = 768;
  in.seed_resize_from_h = 640;
  in.denoising_strength = 0.5;
  in.clip_skip = 2;
  in.ensd = 31337;
  in.rng = "CPU";
  in.s_min_uncond = 1.5;
  in.tiling = true;
  in.schedule_type = "Automatic";
  in.extra_params = {{"Lora hashes", "add_detail: 7c6bad76eb54, more: \"x\""}, {"Discard penultimate sigma", "True"}};
  BOOST_TEST(create_infotext(in) ==
             "a cat\nSteps: 20, Sampler: Euler, Schedule type: Automatic, CFG scale: 7.0, Seed: 1, Size: 512x512, "
             "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Variation seed: 42, Variation seed strength: 0.25, "
             "Seed resize from: 768x640, Denoising strength: 0.5, Clip skip: 2, ENSD: 31337, RNG: CPU, NGMS: 1.5, "
             "Tiling: True, Lora hashes: \"add_detail: 7c6bad76eb54, more: \\\"x\\\"\", Discard penultimate sigma: True, "
             "Version: v1.9.4");
}

BOOST_AUTO_TEST_CASE(defaults_that_are_left_out) {
  infotext_input in = cat_request();
  in.clip_skip = 1;
  in.rng = "GPU";
  in.subseed = 42;           // strength 0: no variation entries
  in.seed_resize_from_w = 512;  // height still -1: no seed resize entry
  in.model_hash.reset();
  in.version.reset();
  BOOST_TEST(create_infotext(in) ==
             "a cat\nSteps: 20, Sampler: Euler, CFG scale: 7.0, Seed: 1, Size: 512x512, Model: v1-5-pruned-emaonly");
}

BOOST_AUTO_TEST_CASE(quoting_bare_keys_and_strip) {
  BOOST_TEST(quote_infotext_value("plain text") == "plain text");
  BOOST_TEST(quote_infotext_value("a, b") == "\"a, b\"");
  BOOST_TEST(quote_infotext_value("line\nbreak") == "\"line\\nbreak\"");
  BOOST_TEST(quote_infotext_value("k: v \xc3\xa9") == "\"k: v \xc3\xa9\"");

  infotext_input in = cat_request();
  in.prompt = "  \t a cat ";
  in.extra_params = {{"Hires fix", "Hires fix"}};
  BOOST_TEST(create_infotext(in) ==
             "a cat \nSteps: 20, Sampler: Euler, CFG scale: 7.0, Seed: 1, Size: 512x512, Model hash: 6ce0161689, "
             "Model: v1-5-pruned-emaonly, Hires fix, Version: v1.9.4");
  in.prompt = "";
  BOOST_TEST(create_infotext(in).rfind("Steps: 20, ", 0) == 0u);
  BOOST_TEST(python_strip("\xc2\xa0 x \xe3\x80\x80") == "x");
}
