#pragma once
// The LoRA tests' engine: the tiny model, a Lora folder of files made by make_lora (one per network
// kind), jobs run on them, and the check of a merge against tests/reference/lora_reference.py.

#include "runtime/base/encoding.hpp"
#include "runtime/engine/clip_tokenizer.hpp"
#include "runtime/engine/lora_library.hpp"
#include "runtime/engine/make_lora.hpp"
#include "runtime/engine/sd_model.hpp"
#include "runtime/engine/txt2img.hpp"
#include "runtime/formats/txt2img_request.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/tiny_model.hpp"

#include <ATen/ATen.h>
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sdw::test::lora_fixture {

namespace fs = std::filesystem;

struct engine {
  engine()
    : model(sdw::sd_model::load(sdw::test::tiny_model(dir), {"cpu", "f32"})),
      tokenizer(sdw::clip_tokenizer::from_file(sdw::test::clip_vocab())) {
    fs::create_directories(lora_dir());
    sdw::make_lora(sdw::model_preset::tiny, sdw::lora_kind::lora, 4, sdw::st_dtype::f16, 1, lora_dir() + "/style.safetensors");
    sdw::make_lora(sdw::model_preset::tiny, sdw::lora_kind::locon, 2, sdw::st_dtype::f16, 2, lora_dir() + "/conv.safetensors");
    sdw::make_lora(sdw::model_preset::tiny, sdw::lora_kind::loha, 3, sdw::st_dtype::f16, 3, lora_dir() + "/hada.safetensors");
    sdw::make_lora(sdw::model_preset::tiny, sdw::lora_kind::lokr, 2, sdw::st_dtype::f32, 4, lora_dir() + "/kron.safetensors");
    sdw::make_lora(sdw::model_preset::tiny, sdw::lora_kind::full, 1, sdw::st_dtype::f16, 5, lora_dir() + "/diff.safetensors");
    sdw::make_lora(sdw::model_preset::tiny, sdw::lora_kind::norm, 1, sdw::st_dtype::f32, 6, lora_dir() + "/norms.safetensors");
    library = std::make_unique<sdw::lora_library>(lora_dir());
  }
  std::string lora_dir() const { return dir.file("Lora"); }
  sdw::test::temp_dir dir;
  std::shared_ptr<sdw::sd_model> model;
  sdw::clip_tokenizer tokenizer;
  std::unique_ptr<sdw::lora_library> library;
};

inline engine& the_engine() {
  static engine e;
  return e;
}

inline std::string body(const std::string& prompt, int seed = 5) {
  return R"({"prompt": ")" + prompt + R"(", "negative_prompt": "blurry", "seed": )" + std::to_string(seed) +
         R"(, "steps": 4, "width": 64, "height": 64, "sampler_name": "Euler", "override_settings": {"randn_source": "CPU"}})";
}

struct run_out {
  sdw::txt2img_result result;
  at::Tensor latent;
};

inline run_out run(const std::string& prompt, const sdw::sd_model* model = nullptr, int seed = 5) {
  auto& e = the_engine();
  const auto req = sdw::parse_txt2img_request(body(prompt, seed));
  sdw::options opts;
  sdw::apply_overrides(opts, *req.override_settings);
  run_out out;
  sdw::txt2img_hooks hooks;
  hooks.on_latent = [&](const std::vector<float>& v, const std::vector<int64_t>& shape) {
    out.latent = at::tensor(v).reshape(shape);
  };
  out.result = sdw::run_txt2img(model ? *model : *e.model, e.tokenizer, req, opts, hooks, e.library.get());
  return out;
}

inline const std::vector<uint8_t>& pixels(const run_out& r) { return r.result.images.at(0).pixels; }

inline double rel_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
}

/// sha256 of the file after its 8-byte length and JSON header, computed here from the raw bytes.
inline std::string addnet_hash(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) {
    n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<size_t>(i)]);
  }
  return sdw::sha256_hex(std::string_view(bytes).substr(8 + n)).substr(0, 12);
}

/// A file of the network folder and the multipliers its tag gives it.
struct file_use {
  std::string file;
  double te, unet;
};

/// The engine's result for `tags` against the reference's merge of `files` (in order) loaded as a checkpoint.
inline void check_against_reference(const std::string& tags, const std::vector<file_use>& files) {
  auto& e = the_engine();
  std::string name = "merged";
  std::string args;
  for (const file_use& f : files) {
    name += "_" + f.file;
    args += " '" + e.lora_dir() + "/" + f.file + ".safetensors' " + std::to_string(f.te) + " " + std::to_string(f.unet);
  }
  const std::string merged = e.dir.file(name + ".safetensors");
  const std::string script = std::string(std::getenv("SDW_SOURCE_DIR")) + "/tests/reference/lora_reference.py";
  const auto [rc, log] = sdw::test::run_command(sdw::test::python() + " '" + script + "' '" + e.model->path() + "' '" +
                                                merged + "'" + args);
  BOOST_TEST_MESSAGE(log);
  BOOST_TEST_REQUIRE(rc == 0);
  fs::copy_file(sdw::config_path_for(e.model->path()), sdw::config_path_for(merged), fs::copy_options::overwrite_existing);
  const auto reference_model = sdw::sd_model::load(merged, {"cpu", "f32"});
  const run_out ours = run("a red fox in the snow " + tags);
  const run_out reference = run("a red fox in the snow ", reference_model.get());
  const run_out plain = run("a red fox in the snow ");
  const double d = rel_diff(ours.latent, reference.latent);
  BOOST_TEST_MESSAGE(name << ": latent relative difference to the reference merge " << d << ", the files' own effect "
                          << rel_diff(plain.latent, reference.latent));
  BOOST_TEST(d <= 1e-4);
  BOOST_TEST(rel_diff(plain.latent, reference.latent) > 1e-2);  // the files do change the image
}

inline void check_against_reference(const std::string& tags, const std::string& file, double te, double unet) {
  check_against_reference(tags, std::vector<file_use>{{file, te, unet}});
}

/// Every parameter of both networks, weights and biases, copied.
inline std::vector<std::pair<std::string, at::Tensor>> all_params(const sdw::sd_model& model) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (auto& [k, t] : model.unet().named_weights()) {
    out.emplace_back(k, t.clone());
  }
  for (auto& [k, t] : model.text().named_weights()) {
    out.emplace_back(k, t.clone());
  }
  return out;
}

/// The file of IA3, GLoRA, DoRA and OFT modules the reference script writes for the tiny model.
inline void make_extra_file() {
  auto& e = the_engine();
  const std::string path = e.lora_dir() + "/extra.safetensors";
  if (fs::exists(path)) {
    return;
  }
  const std::string script = std::string(std::getenv("SDW_SOURCE_DIR")) + "/tests/reference/lora_reference.py";
  const auto [rc, log] = sdw::test::run_command(sdw::test::python() + " '" + script + "' --make-extra '" +
                                                e.model->path() + "' '" + path + "' 7");
  BOOST_TEST_MESSAGE(log);
  BOOST_TEST_REQUIRE(rc == 0);
}

} // namespace sdw::test::lora_fixture
