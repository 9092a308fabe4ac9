#define BOOST_TEST_MODULE infotext_parse
#include <boost/test/unit_test.hpp>

#include "runtime/base/json_writer.hpp"
#include "runtime/formats/infotext.hpp"
#include "runtime/formats/infotext_parse.hpp"
#include "runtime/formats/infotext_versions.hpp"

using namespace sdw;

namespace {

/// The keys parse_generation_parameters adds to every result, after "Prompt" and "Negative prompt".
const std::string defaults_tail =
  R"("Clip skip":"1","Hires resize-1":0,"Hires resize-2":0,"Hires sampler":"Use same sampler",)"
  R"("Hires schedule type":"Use same scheduler","Hires checkpoint":"Use same checkpoint","Hires prompt":"",)"
  R"("Hires negative prompt":"","Mask mode":"Inpaint masked","Masked content":"original",)"
  R"("Inpaint area":"Whole picture","Masked area padding":32,"RNG":"GPU","Schedule type":"Automatic",)"
  R"("Schedule max sigma":0,"Schedule min sigma":0,"Schedule rho":0,"VAE Encoder":"Full","VAE Decoder":"Full",)"
  R"("FP8 weight":"Disable","Refiner switch by sampling steps":false})";

std::string parse(const std::string& text, const infotext_parse_options& o = {}) {
  return to_json(parse_generation_parameters(text, o));
}

const json_value& at(const json_value& v, const std::string& key) {
  const json_value* m = v.find(key);
  BOOST_TEST_REQUIRE(m != nullptr, key);
  return *m;
}

} // namespace

BOOST_AUTO_TEST_CASE(an_a1111_infotext_parses_to_a1111s_dict) {
  const std::string text =
    "a cat\nNegative prompt: blurry\nSteps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.0, Seed: 1, "
    "Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Version: v1.9.4";
  BOOST_TEST(parse(text) ==
             R"({"Steps":"20","Sampler":"DPM++ 2M","Schedule type":"Karras","CFG scale":"7.0","Seed":"1",)"
             R"("Size-1":"512","Size-2":"768","Model hash":"6ce0161689","Model":"v1-5-pruned-emaonly",)"
             R"("Version":"v1.9.4","Prompt":"a cat","Negative prompt":"blurry","Clip skip":"1","Hires resize-1":0,)"
             R"("Hires resize-2":0,"Hires sampler":"Use same sampler","Hires schedule type":"Use same scheduler",)"
             R"("Hires checkpoint":"Use same checkpoint","Hires prompt":"","Hires negative prompt":"",)"
             R"("Mask mode":"Inpaint masked","Masked content":"original","Inpaint area":"Whole picture",)"
             R"("Masked area padding":32,"RNG":"GPU","Schedule max sigma":0,"Schedule min sigma":0,"Schedule rho":0,)"
             R"("VAE Encoder":"Full","VAE Decoder":"Full","FP8 weight":"Disable",)"
             R"("Refiner switch by sampling steps":false})");
}

BOOST_AUTO_TEST_CASE(what_create_infotext_writes_reads_back) {
  infotext_input in;
  in.prompt = "line one\nline: two, with commas";
  in.negative_prompt = "bad\nworse";
  in.steps = 7;
  in.sampler_name = "Euler a";
  in.cfg_scale = 6.5;
  in.seed = 4294967293;
  in.width = 64;
  in.height = 96;
  in.clip_skip = 2;
  in.rng = "CPU";
  in.subseed = 9;
  in.subseed_strength = 0.25;
  in.extra_params = {{"Lora hashes", "a: 1234, b: 5678"}, {"Hires prompt", "say \"hi\""}};
  in.version = "sdworker 0.3.0";
  const json_value p = parse_generation_parameters(create_infotext(in), {});
  BOOST_TEST(at(p, "Prompt").as_string() == in.prompt);
  BOOST_TEST(at(p, "Negative prompt").as_string() == in.negative_prompt);
  BOOST_TEST(at(p, "Steps").as_string() == "7");
  BOOST_TEST(at(p, "Sampler").as_string() == "Euler a");
  BOOST_TEST(at(p, "CFG scale").as_string() == "6.5");
  BOOST_TEST(at(p, "Seed").as_string() == "4294967293");
  BOOST_TEST(at(p, "Size-1").as_string() == "64");
  BOOST_TEST(at(p, "Size-2").as_string() == "96");
  BOOST_TEST(at(p, "Clip skip").as_string() == "2");
  BOOST_TEST(at(p, "RNG").as_string() == "CPU");
  BOOST_TEST(at(p, "Variation seed").as_string() == "9");
  BOOST_TEST(at(p, "Variation seed strength").as_string() == "0.25");
  BOOST_TEST(at(p, "Lora hashes").as_string() == "a: 1234, b: 5678");  // quoted, then unquoted
  BOOST_TEST(at(p, "Hires prompt").as_string() == "say \"hi\"");
  BOOST_TEST(at(p, "Version").as_string() == "sdworker 0.3.0");
  BOOST_TEST(p.find("Downcast alphas_cumprod") == nullptr);  // not a version: no compatibility keys
}

BOOST_AUTO_TEST_CASE(the_parameter_line_needs_three_pairs) {
  // Two pairs: the line belongs to the prompt.
  BOOST_TEST(parse("hello\nSteps: 2, Seed: 3") == R"({"Prompt":"hello\nSteps: 2, Seed: 3","Negative prompt":"",)" +
                                                       defaults_tail);
  // An empty line joins the next without a line break while the text is still empty, as A1111's ""
  // check does; later empty lines are kept.
  const json_value p = parse_generation_parameters("a\n\nb\nNegative prompt: \n\nbad\nSteps: 1, Seed: 2, Sampler: Euler", {});
  BOOST_TEST(at(p, "Prompt").as_string() == "a\n\nb");
  BOOST_TEST(at(p, "Negative prompt").as_string() == "bad");
  BOOST_TEST(parse("") == R"({"Prompt":"","Negative prompt":"",)" + defaults_tail);
}

BOOST_AUTO_TEST_CASE(pairs_are_found_as_re_param_finds_them) {
  using pairs = std::vector<std::pair<std::string, std::string>>;
  BOOST_TEST((infotext_pairs("Steps: 20, Sampler: Euler a,CFG scale:7") ==
              pairs{{"Steps", "20"}, {"Sampler", "Euler a"}, {"CFG scale", "7"}}));
  // A quoted value runs to its closing quote (escapes allowed); one not followed by a comma is read
  // to the next comma instead.
  BOOST_TEST((infotext_pairs(R"(Ab: "x, \"y\"", Bc: "u" v, w, C-d/e f: 1)") ==
              pairs{{"Ab", R"("x, \"y\"")"}, {"Bc", "\"u\" v"}, {"C-d/e f", "1"}}));
  // Keys have two characters or more and start with a word character; a match may start anywhere.
  BOOST_TEST((infotext_pairs("x: 1, -yz: 2, ab: 3, Größe: 4, Foo : 5") ==
              pairs{{"yz", "2"}, {"ab", "3"}, {"Größe", "4"}, {"Foo ", "5"}}));
  BOOST_TEST((infotext_pairs("Ke: ") == pairs{{"Ke", ""}}));
}

BOOST_AUTO_TEST_CASE(values_are_unquoted_split_and_skipped_as_a1111_does) {
  const json_value p = parse_generation_parameters(
    R"(p)"
    "\n"
    R"(Steps: 2, Empty: , Quoted: "a, b", Bad: "x\q", Seed resize from: 64x32, Size: 512x512 , Hires resize: "128x64")",
    {});
  BOOST_TEST(p.find("Empty") == nullptr);  // v[0] of "" raises; A1111 skips the key
  BOOST_TEST(at(p, "Quoted").as_string() == "a, b");
  BOOST_TEST(at(p, "Bad").as_string() == R"("x\q")");  // not JSON: kept as written
  BOOST_TEST(at(p, "Seed resize from-1").as_string() == "64");
  BOOST_TEST(at(p, "Seed resize from-2").as_string() == "32");
  BOOST_TEST(at(p, "Hires resize-1").as_string() == "128");
  BOOST_TEST(at(p, "Size").as_string() == "512x512 ");  // the trailing space keeps it whole
  BOOST_TEST(p.find("Size-1") == nullptr);
}

BOOST_AUTO_TEST_CASE(styles_are_taken_out_of_the_prompts) {
  infotext_parse_options o;
  o.styles = {{"Quality", "masterpiece", "lowres"}};
  const std::string text = "a cat, masterpiece\nNegative prompt: ugly, lowres\nSteps: 1, Seed: 2, Sampler: Euler";
  json_value p = parse_generation_parameters(text, o);
  BOOST_TEST(at(p, "Prompt").as_string() == "a cat");
  BOOST_TEST(at(p, "Negative prompt").as_string() == "ugly");
  BOOST_TEST(to_json(at(p, "Styles array")) == R"(["Quality"])");
  BOOST_TEST(to_json(p).find(R"("Sampler":"Euler","Styles array":["Quality"],"Prompt":"a cat")") != std::string::npos);
  o.infotext_styles = "Discard";
  p = parse_generation_parameters(text, o);
  BOOST_TEST(at(p, "Prompt").as_string() == "a cat");
  BOOST_TEST(p.find("Styles array") == nullptr);
  o.infotext_styles = "Ignore";
  BOOST_TEST(at(parse_generation_parameters(text, o), "Prompt").as_string() == "a cat, masterpiece");
  o.infotext_styles = "Apply";
  o.styles.clear();
  BOOST_TEST(to_json(at(parse_generation_parameters(text, o), "Styles array")) == "[]");
}

BOOST_AUTO_TEST_CASE(hires_prompts_lose_the_same_styles) {
  infotext_parse_options o;
  o.styles = {{"Quality", "masterpiece", ""}};
  const json_value p = parse_generation_parameters(
    "a cat, masterpiece\nSteps: 1, Seed: 2, Hires prompt: \"a big cat, masterpiece\", Version: v1.9.4", o);
  BOOST_TEST(at(p, "Prompt").as_string() == "a cat");
  BOOST_TEST(at(p, "Hires prompt").as_string() == "a big cat");
  BOOST_TEST(at(p, "Hires negative prompt").as_string() == "");
}

BOOST_AUTO_TEST_CASE(old_versions_get_their_compatibility_keys) {
  json_value p =
    parse_generation_parameters("[a:b:5]\nSteps: 20, Sampler: DDIM, Refiner: x, Version: v1.5.1", {});
  BOOST_TEST(at(p, "Old prompt editing timelines").as_bool());
  BOOST_TEST(at(p, "Pad conds v0").as_bool());
  BOOST_TEST(at(p, "Downcast alphas_cumprod").as_bool());
  BOOST_TEST(at(p, "Refiner switch by sampling steps").as_bool());
  p = parse_generation_parameters("x\nSteps: 20, Sampler: DDIM, Version: v1.7.0-225-g1234abc", {});
  BOOST_TEST(p.find("Downcast alphas_cumprod") == nullptr);  // 1.7.0.post225 is not older than itself
  p = parse_generation_parameters("x\nSteps: 20, Sampler: DDIM, Version: 1.7.0", {});
  BOOST_TEST(at(p, "Downcast alphas_cumprod").as_bool());
  infotext_parse_options off;
  off.auto_backcompat = false;
  p = parse_generation_parameters("x\nSteps: 20, Sampler: DDIM, Version: 1.7.0", off);
  BOOST_TEST(p.find("Downcast alphas_cumprod") == nullptr);
}

BOOST_AUTO_TEST_CASE(compatibility_keys_whatever_the_number_of_keys_before_them) {
  // Each compatibility key added may move the members read after it (a use after free found by
  // fuzzing, caught by the sanitizer build): every count of keys puts a reallocation somewhere.
  for (int extra = 0; extra < 40; ++extra) {
    std::string line = "Steps: 20, Sampler: DDIM, Refiner: x, Version: v1.5.1";
    for (int i = 0; i < extra; ++i) line += ", Key " + std::to_string(i) + ": " + std::to_string(i);
    BOOST_TEST_CONTEXT("extra keys: " << extra) {
      const json_value p = parse_generation_parameters("[a:b:5]\n" + line, {});
      BOOST_TEST(at(p, "Old prompt editing timelines").as_bool());
      BOOST_TEST(at(p, "Pad conds v0").as_bool());
      BOOST_TEST(at(p, "Downcast alphas_cumprod").as_bool());
      BOOST_TEST(at(p, "Refiner switch by sampling steps").as_bool());
    }
  }
}

BOOST_AUTO_TEST_CASE(versions_compare_as_packaging_does) {
  auto v = [](const std::string& s) {
    pep440_version out;
    BOOST_TEST_REQUIRE(parse_infotext_version(s, out), s);
    return out;
  };
  BOOST_TEST(version_less(v("1.6.0"), v("v1.9.4")));
  BOOST_TEST(version_less(v("v1.8.0-139"), v("v1.9.4")));
  BOOST_TEST(version_less(v("1.8.0"), v("v1.8.0-139-gdeadbee")));
  BOOST_TEST(version_less(v("v1.8.0-RC"), v("1.8.0")));
  BOOST_TEST(version_less(v("1.8.0.dev1"), v("1.8.0a1")));
  BOOST_TEST(version_less(v("1.8.0a1"), v("1.8.0b1")));
  BOOST_TEST(version_less(v("1.8.0rc1"), v("1.8.0")));
  BOOST_TEST(!version_less(v("1.8"), v("1.8.0")));
  BOOST_TEST(!version_less(v("1.8.0"), v("1.8")));
  pep440_version out;
  BOOST_TEST(!parse_infotext_version("sdworker 0.3.0", out));
  BOOST_TEST(!parse_infotext_version("", out));
  BOOST_TEST(!parse_infotext_version("1.x", out));
}

BOOST_AUTO_TEST_CASE(defaults_hypernet_emphasis_first_pass_and_skips) {
  infotext_parse_options o;
  o.uses_emphasis = [](const std::string& s) { return s.find('(') != std::string::npos; };
  o.infotext_skip_pasting = {"Seed", "RNG"};
  json_value p = parse_generation_parameters(
    "a (cat)\nSteps: 3, Seed: 4, Hypernet: net, Hypernet strength: 0.5, FP8 weight: Enable for SDXL, "
    "First pass size: 0x0, Size: 1024x1024",
    o);
  BOOST_TEST(at(p, "Prompt").as_string() == "a (cat)<hypernet:net:0.5>");
  BOOST_TEST(at(p, "Emphasis").as_string() == "Original");
  BOOST_TEST(at(p, "Cache FP16 weight for LoRA").as_bool() == false);
  BOOST_TEST(p.find("Seed") == nullptr);
  BOOST_TEST(p.find("RNG") == nullptr);
  // "First pass size: 0x0" with 1024x1024: the old hires fix's first pass of about 512x512.
  BOOST_TEST(at(p, "Size-1").as_int() == 512);
  BOOST_TEST(at(p, "Size-2").as_int() == 512);
  BOOST_TEST(at(p, "Hires resize-1").as_int() == 1024);
  BOOST_TEST(at(p, "Hires resize-2").as_int() == 1024);
  p = parse_generation_parameters("a cat\nSteps: 3, Seed: 4, Emphasis: No norm", o);
  BOOST_TEST(at(p, "Emphasis").as_string() == "No norm");
  p = parse_generation_parameters("a cat\nSteps: 3, Seed: 4, Sampler: Euler", o);
  BOOST_TEST(p.find("Emphasis") == nullptr);
}

BOOST_AUTO_TEST_CASE(a_first_pass_size_with_an_empty_image_is_left_as_it_is) {
  // "Size: 102x0" (found by fuzzing): the first pass size would divide by zero pixels, and a
  // negative size would take the root of a negative count; A1111 raises there, the sizes stay.
  json_value p = parse_generation_parameters("a cat\nSteps: 3, Seed: 4, First pass size: 0x0, Size: 102x0", {});
  BOOST_TEST(at(p, "Size-1").as_string() == "102");
  BOOST_TEST(at(p, "Size-2").as_string() == "0");
  BOOST_TEST(at(p, "Hires resize-1").as_int() == 0);
  p = parse_generation_parameters("a cat\nSteps: 3, First pass size: 0x0, Size-1: -512, Size-2: 512", {});
  BOOST_TEST(at(p, "Size-1").as_string() == "-512");
  BOOST_TEST(at(p, "Hires resize-2").as_int() == 0);
}
