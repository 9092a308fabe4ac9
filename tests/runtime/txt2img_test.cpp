#define BOOST_TEST_MODULE txt2img
#include <boost/test/unit_test.hpp>

#include "runtime/engine/clip_tokenizer.hpp"
#include "runtime/base/encoding.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/base/png_codec.hpp"
#include "runtime/engine/make_model.hpp"
#include "runtime/engine/samplers.hpp"
#include "runtime/engine/sd_model.hpp"
#include "runtime/engine/txt2img.hpp"
#include "runtime/formats/txt2img_request.hpp"
#include "tests/support/tiny_model.hpp"

#include <simdjson.h>

#include <atomic>

namespace {

/// One tiny model and tokenizer for the whole test binary.
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

sdw::txt2img_request request(const std::string& json) { return sdw::parse_txt2img_request(json); }

std::string respond(const std::string& json) {
  auto req = request(json);
  sdw::options opts;
  if (req.override_settings) {
    sdw::apply_overrides(opts, *req.override_settings);
  }
  auto& e = the_engine();
  return sdw::encode_txt2img_response(sdw::run_txt2img(*e.model, e.tokenizer, req, opts), req);
}

/// The PNGs of an A1111 response, decoded.
std::vector<sdw::decoded_png> images_of(const std::string& response) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(response);
  std::vector<sdw::decoded_png> out;
  for (auto img : doc["images"].get_array()) {
    out.push_back(sdw::decode_png(sdw::base64_decode(std::string(img.get_string().value()))));
  }
  return out;
}

std::string body_for(const std::string& sampler, int seed = 42) {
  return R"({"prompt": "a (red:1.2) fox", "negative_prompt": "blurry", "seed": )" + std::to_string(seed) +
         R"(, "steps": 4, "width": 64, "height": 64, "cfg_scale": 6.5, "sampler_name": ")" + sampler +
         R"(", "override_settings": {"randn_source": "CPU"}})";
}

} // namespace

BOOST_AUTO_TEST_CASE(every_implemented_sampler_makes_a_deterministic_png_with_infotext) {
  int ran = 0;
  for (const auto& s : sdw::all_samplers()) {
    if (!sdw::implemented(s)) {
      continue;
    }
    BOOST_TEST_CONTEXT("sampler " << s.name) {
      const auto first = respond(body_for(s.name));
      const auto again = respond(body_for(s.name));
      auto a = images_of(first);
      auto b = images_of(again);
      BOOST_TEST_REQUIRE(a.size() == 1u);
      BOOST_TEST(a[0].width == 64);
      BOOST_TEST(a[0].height == 64);
      BOOST_TEST(a[0].pixels == b[0].pixels);
      const std::string& info = a[0].text["parameters"];
      const std::string head = "a (red:1.2) fox\nNegative prompt: blurry\nSteps: 4, Sampler: " + s.name;
      BOOST_TEST(info.substr(0, head.size()) == head);
      BOOST_TEST(info.find("CFG scale: 6.5, Seed: 42, Size: 64x64, Model hash: ") != std::string::npos);
      BOOST_TEST(info.find("RNG: CPU") != std::string::npos);
      ++ran;
    }
  }
  BOOST_TEST(ran >= 10);
}

BOOST_AUTO_TEST_CASE(seeds_change_the_image_and_batches_count_up) {
  auto a = images_of(respond(body_for("Euler", 1)));
  auto b = images_of(respond(body_for("Euler", 2)));
  BOOST_TEST(a[0].pixels != b[0].pixels);

  const auto batch = respond(R"({"prompt": "x", "seed": 10, "steps": 3, "width": 64, "height": 64, "batch_size": 2,
                                 "n_iter": 2, "sampler_name": "Euler a"})");
  auto imgs = images_of(batch);
  BOOST_TEST(imgs.size() == 4u);
  BOOST_TEST(imgs[3].text["parameters"].find("Seed: 13,") != std::string::npos);
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(batch);
  simdjson::dom::parser info_parser;
  simdjson::dom::element info = info_parser.parse(std::string(doc["info"].get_string().value()));
  std::vector<int64_t> seeds;
  for (auto s : info["all_seeds"].get_array()) {
    seeds.push_back(s.get_int64());
  }
  BOOST_TEST(seeds == (std::vector<int64_t>{10, 11, 12, 13}));
}

namespace {

/// Image `index` of a batch of two with seed 5 and the same request alone with seed 5 + index.
std::pair<sdw::decoded_png, sdw::decoded_png> batch_image_and_alone(const std::string& sampler, int index,
                                                                     const std::string& overrides = "") {
  const auto body = [&](int seed, int batch_size) {
    return R"({"prompt": "x", "seed": )" + std::to_string(seed) + R"(, "steps": 3, "width": 64, "height": 64,
               "batch_size": )" + std::to_string(batch_size) + R"(, "sampler_name": ")" + sampler +
           R"(", "override_settings": {"randn_source": "CPU")" + overrides + "}}";
  };
  return {images_of(respond(body(5, 2))).at(index), images_of(respond(body(5 + index, 1))).at(0)};
}

size_t bytes_off_by_more_than_one(const sdw::decoded_png& a, const sdw::decoded_png& b) {
  size_t n = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    n += std::abs(int(a.pixels[i]) - int(b.pixels[i])) > 1;
  }
  return n;
}

} // namespace

BOOST_AUTO_TEST_CASE(the_second_image_of_a_batch_matches_its_seed_alone) {
  // One generator per image (A1111's ImageRNG) and, for the SDE samplers, one Brownian tree per
  // image: batch position does not change the noise.
  for (const std::string sampler : {"Euler", "DPM++ SDE", "DPM++ 2M SDE"}) {
    const auto [batched, alone] = batch_image_and_alone(sampler, 1);
    BOOST_TEST(bytes_off_by_more_than_one(batched, alone) == 0u, sampler);
  }
}

BOOST_AUTO_TEST_CASE(no_dpmpp_sde_batch_determinism_gives_the_sde_samplers_one_tree_per_batch) {
  // k-diffusion's own tree spans the batch and is seeded from the batch's last seed: the first
  // image of a batch of two is not what its seed gives alone.
  const auto [batched, alone] = batch_image_and_alone("DPM++ 2M SDE", 0, R"(, "no_dpmpp_sde_batch_determinism": true)");
  BOOST_TEST(bytes_off_by_more_than_one(batched, alone) > 100u);
  // Without the option it is.
  const auto [batched2, alone2] = batch_image_and_alone("DPM++ 2M SDE", 0);
  BOOST_TEST(bytes_off_by_more_than_one(batched2, alone2) == 0u);
}

BOOST_AUTO_TEST_CASE(an_unknown_sampler_is_not_found_naming_the_field) {
  try {
    respond(body_for("DPM++ 2M Karras"));
    BOOST_FAIL("an unknown sampler was accepted");
  } catch (const sdw::error& e) {
    BOOST_TEST(e.code() == sdw::errc::not_found);
    BOOST_TEST(e.where() == "sampler_name");
  }
}

BOOST_AUTO_TEST_CASE(a_set_cancel_flag_stops_the_job) {
  auto req = request(body_for("Euler"));
  sdw::options opts;
  std::atomic<bool> cancel{true};
  sdw::txt2img_hooks hooks;
  hooks.cancel = &cancel;
  auto& e = the_engine();
  try {
    sdw::run_txt2img(*e.model, e.tokenizer, req, opts, hooks);
    BOOST_FAIL("a cancelled job finished");
  } catch (const sdw::error& err) {
    BOOST_TEST(err.code() == sdw::errc::cancelled);
  }
}

BOOST_AUTO_TEST_CASE(scripts_not_done_here_are_refused_naming_the_field) {
  for (const std::string name : {"x/y/z plot", "Prompt matrix"}) {
    BOOST_TEST_CONTEXT(name) {
      try {
        respond(R"({"prompt": "x", "steps": 2, "width": 64, "height": 64, "script_name": ")" + name + R"("})");
        BOOST_FAIL("the request was accepted");
      } catch (const sdw::error& e) {
        BOOST_TEST(e.code() == sdw::errc::bad_request);
        BOOST_TEST(e.where() == "script_name");
        BOOST_TEST(e.message().find("is not supported by sdworker") != std::string::npos, e.message());
      }
    }
  }
}

// A1111 without a face restoration model returns the image as it is and names the model in the
// infotext; tiling pads every convolution circularly, which changes the image.
BOOST_AUTO_TEST_CASE(restore_faces_leaves_the_image_and_tiling_changes_it) {
  const std::string base = R"({"prompt": "a wall", "seed": 8, "steps": 3, "width": 64, "height": 64)";
  const auto plain = images_of(respond(base + "}"));
  const auto restored = images_of(respond(base + R"(, "restore_faces": true})"));
  const auto tiled = images_of(respond(base + R"(, "tiling": true})"));
  BOOST_TEST((plain[0].pixels == restored[0].pixels));
  BOOST_TEST(restored[0].text.at("parameters").find("Face restoration: CodeFormer") != std::string::npos);
  BOOST_TEST((plain[0].pixels != tiled[0].pixels));
  BOOST_TEST(tiled[0].text.at("parameters").find("Tiling: True") != std::string::npos);
  BOOST_TEST(plain[0].text.at("parameters").find("Tiling") == std::string::npos);
}

// Option use_old_emphasis_implementation: the prompt's brackets weigh as tokens (prompt_chunks_test
// checks the tokens against A1111's process_text_old). Plain brackets give what the new parser gives;
// `(x:1.5)` is text to it; A1111 notes neither Emphasis nor TI hashes on that path; SD1 only.
BOOST_AUTO_TEST_CASE(old_emphasis_weighs_brackets_as_tokens) {
  const auto job = [](const std::string& prompt, bool old) {
    const std::string settings = std::string(R"({"emphasis": "No norm", "use_old_emphasis_implementation": )") +
                                 (old ? "true" : "false") + "}";
    return images_of(respond(R"({"prompt": ")" + prompt + R"(", "seed": 8, "steps": 3, "width": 64, "height": 64,)"
                             R"( "override_settings": )" + settings + "}"))[0];
  };
  BOOST_TEST((job("a (red) house", true).pixels == job("a (red) house", false).pixels));
  BOOST_TEST((job("a (red:1.5) house", true).pixels != job("a (red:1.5) house", false).pixels));
  BOOST_TEST((job("a (red:1.5) house", true).pixels != job("a red:1.5 house", true).pixels));
  BOOST_TEST(job("a (red) house", false).text.at("parameters").find("Emphasis: No norm") != std::string::npos);
  BOOST_TEST(job("a (red) house", true).text.at("parameters").find("Emphasis") == std::string::npos);

  auto& e = the_engine();
  const std::string sd2 = e.dir.file("sd2-tiny.safetensors");
  sdw::make_model(sdw::model_preset::sd2_tiny, sdw::st_dtype::f32, 3, sd2);
  const auto model = sdw::sd_model::load(sd2, {"cpu", "f32"});
  sdw::options opts;
  opts.use_old_emphasis_implementation = true;
  try {
    sdw::run_txt2img(*model, e.tokenizer, request(R"({"prompt": "x", "steps": 1, "width": 64, "height": 64})"), opts);
    BOOST_ERROR("an SD2 job with the old emphasis was accepted");
  } catch (const sdw::error& err) {
    BOOST_TEST(err.where() == "override_settings.use_old_emphasis_implementation", err.what());
  }
}
