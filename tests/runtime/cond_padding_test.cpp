#define BOOST_TEST_MODULE cond_padding
#include <boost/test/unit_test.hpp>

#include "runtime/formats/options.hpp"
#include "tests/support/job_runs.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/tiny_engine.hpp"

#include <ATen/ATen.h>

#include <fstream>

// Options pad_cond_uncond and pad_cond_uncond_v0: a prompt and negative prompt of different token
// lengths are evened out so that both share one UNet call, which changes the image, and A1111 notes
// it in the infotext ("Pad conds: True", "Pad conds v0: True").

namespace {

struct example {
  std::vector<std::string> prompt_chunks, negative_chunks;  // joined with BREAK
  std::string mode;                                         // "pad", "v0" or "" (neither option)
};

std::string joined(const std::vector<std::string>& chunks) {
  std::string out;
  for (const auto& c : chunks) out += (out.empty() ? "" : " BREAK ") + c;
  return out;
}

sdw::options options_of(const example& c) {
  sdw::options opts;
  sdw::apply_override(opts, "randn_source", sdw::json_value("CPU"));
  sdw::apply_override(opts, "pad_cond_uncond", sdw::json_value(c.mode == "pad"));
  sdw::apply_override(opts, "pad_cond_uncond_v0", sdw::json_value(c.mode == "v0"));
  return opts;
}

sdw::test::job_run run(const example& c) {
  const std::string body = R"({"prompt": ")" + joined(c.prompt_chunks) + R"(", "negative_prompt": ")" +
                           joined(c.negative_chunks) +
                           R"(", "seed": 5, "sampler_name": "Euler", "steps": 3, "width": 64, "height": 64, "cfg_scale": 4})";
  return sdw::test::run_job(body, options_of(c));
}

std::string chunks_json(const std::vector<std::string>& chunks) {
  std::string out = "[";
  for (const auto& c : chunks) out += (out.size() > 1 ? "," : "") + sdw::test::shared_tiny_engine().tokens_json(c);
  return out + "]";
}

at::Tensor reference(const example& c, const std::string& tag) {
  auto& e = sdw::test::shared_tiny_engine();
  const std::string script = std::string(std::getenv("SDW_SOURCE_DIR")) + "/tests/reference/pad_conds_reference.py";
  const std::string stem = e.dir.file("pad-" + tag);
  std::ofstream(stem + ".json") << R"({"checkpoint": ")" << sdw::test::tiny_model(e.dir) << R"(", "heads_unet": )"
                                << e.model->config().unet.num_heads << R"(, "heads_text": )"
                                << e.model->config().text.heads
                                << R"(, "width": 64, "height": 64, "steps": 3, "cfg_scale": 4, "seed": 5, "mode": ")"
                                << c.mode << R"(", "cond_chunks": )" << chunks_json(c.prompt_chunks)
                                << R"(, "uncond_chunks": )" << chunks_json(c.negative_chunks)
                                << R"(, "empty_tokens": )" << e.tokens_json("") << R"(, "out": ")" << stem << R"(.bin"})";
  auto [rc, log] = sdw::test::run_command(sdw::test::python() + " '" + script + "' " + stem + ".json");
  BOOST_REQUIRE_MESSAGE(rc == 0, "pad_conds_reference.py failed:\n" << log);
  return sdw::test::read_f32_file(stem + ".bin");
}

} // namespace

// Each padding against the reference, with the prompt longer and with the negative longer; without
// the options the same request runs two UNet calls and gives another image.
BOOST_AUTO_TEST_CASE(padding_matches_the_reference_and_is_noted) {
  const std::vector<std::string> two = {"a red house", "a blue door"}, one = {"fog"}, other_two = {"fog", "blur"};
  const std::vector<std::pair<example, std::string>> cases = {
      {{two, one, "pad"}, "Pad conds: True"},
      {{one, other_two, "pad"}, "Pad conds: True"},
      {{two, one, "v0"}, "Pad conds v0: True"},
      {{one, other_two, "v0"}, "Pad conds v0: True"}};
  int k = 0;
  for (const auto& [c, note] : cases) {
    BOOST_TEST_CONTEXT(c.mode << " with " << c.prompt_chunks.size() << " and " << c.negative_chunks.size() << " chunks") {
      const auto ours = run(c);
      auto want = reference(c, std::to_string(k++));
      BOOST_REQUIRE_EQUAL(want.numel(), ours.latents.numel());
      want = want.view(ours.latents.sizes());
      const double scale = want.abs().max().item<double>();
      const double rel = (ours.latents - want).abs().max().item<double>() / scale;
      example plain = c;
      plain.mode = "";
      const auto unpadded = run(plain);
      const double apart = (unpadded.latents - want).abs().max().item<double>() / scale;
      BOOST_TEST_MESSAGE("max relative difference " << rel << " (unpadded " << apart << ")");
      BOOST_TEST(rel <= 1e-4);
      BOOST_TEST(apart > 1e-4);
      const std::string& info = ours.result.images[0].infotext;
      BOOST_TEST(info.find(", " + note + ", Version: ") != std::string::npos, info);
      BOOST_TEST(unpadded.result.images[0].infotext.find("Pad conds") == std::string::npos);
    }
  }
}

// Equal lengths need no padding: the image is the unpadded one and nothing is noted.
BOOST_AUTO_TEST_CASE(equal_lengths_are_left_alone) {
  for (const std::string mode : {"pad", "v0"}) {
    const example c{{"a red house"}, {"fog"}, mode};
    const auto padded = run(c);
    const auto plain = run({{"a red house"}, {"fog"}, ""});
    BOOST_TEST(at::equal(padded.latents, plain.latents));
    BOOST_TEST(padded.result.images[0].infotext == plain.result.images[0].infotext);
  }
}
