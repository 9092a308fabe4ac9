#define BOOST_TEST_MODULE make_model
#include <boost/test/unit_test.hpp>

#include "tests/support/temp_dir.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/engine/make_model.hpp"
#include "runtime/engine/model_config.hpp"
#include "runtime/engine/safetensors.hpp"
#include "runtime/engine/sd1_layout.hpp"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace fs = std::filesystem;
using namespace sdw;

namespace {

using sdw::test::temp_dir;

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<float> values(const st_tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  copy_as_float(t, v.data());
  return v;
}

std::pair<double, double> mean_std(const std::vector<float>& v) {
  double s = 0, s2 = 0;
  for (float x : v) s += x;
  double m = s / v.size();
  for (float x : v) s2 += (x - m) * (x - m);
  return {m, std::sqrt(s2 / v.size())};
}

} // namespace

BOOST_AUTO_TEST_CASE(tiny_model_has_every_layout_key_and_its_yaml) {
  temp_dir tmp;
  const std::string path = tmp.file("tiny.safetensors");
  make_model(model_preset::tiny, st_dtype::f16, 42, path);
  BOOST_TEST_REQUIRE(fs::exists(tmp.file("tiny.yaml")));
  auto f = safetensors_file::open(path);

  const model_config expected = preset_config(model_preset::tiny);
  const auto layout = sd1_checkpoint_layout(expected);
  for (const auto& spec : layout) {
    const st_tensor* t = f->find(spec.name);
    BOOST_TEST_REQUIRE(t != nullptr, spec.name);
    BOOST_TEST(t->shape == spec.shape, spec.name);
    BOOST_TEST((t->dtype == st_dtype::f16), spec.name);
  }
  for (const auto& spec : sd1_schedule_layout(expected)) {
    const st_tensor* t = f->find(spec.name);
    BOOST_TEST_REQUIRE(t != nullptr, spec.name);
    BOOST_TEST((t->dtype == st_dtype::f32));
    BOOST_TEST(t->shape == spec.shape);
  }
  const st_tensor* ids = f->find(sd1_position_ids_key);
  BOOST_TEST_REQUIRE(ids != nullptr);
  BOOST_TEST((ids->dtype == st_dtype::i64));
  BOOST_TEST((ids->shape == std::vector<int64_t>{1, 77}));
  int64_t last = 0;
  std::memcpy(&last, ids->data + 8 * 76, 8);
  BOOST_TEST(last == 76);
  BOOST_TEST(f->tensors().size() == layout.size() + 12 + 1);
  BOOST_TEST(f->metadata().at("format") == "pt");
  BOOST_TEST(f->metadata().at("sdworker_preset") == "tiny");

  model_config loaded = load_model_config(path, *f);
  BOOST_TEST((loaded == expected));
  BOOST_TEST(loaded.source == tmp.file("tiny.yaml"));
  BOOST_TEST(loaded.unet.channel_mult == std::vector<int>({1, 2}));
  BOOST_TEST(loaded.text.heads == 2);

  // The schedule is the SD1 one whatever the model size.
  auto ac = values(*f->find("alphas_cumprod"));
  BOOST_TEST(std::sqrt((1 - ac[999]) / ac[999]) == 14.6146, boost::test_tools::tolerance(1e-4));
}

BOOST_AUTO_TEST_CASE(weights_are_scaled_for_a_sane_forward_pass) {
  temp_dir tmp;
  const std::string path = tmp.file("tiny.safetensors");
  make_model(model_preset::tiny, st_dtype::f32, 1, path);
  auto f = safetensors_file::open(path);
  const std::string u(sd1_unet_prefix), t(sd1_text_prefix);

  auto [m, s] = mean_std(values(*f->find(u + "time_embed.2.weight")));  // [128, 128]
  BOOST_TEST(std::abs(m) < 0.01);
  BOOST_TEST(s == 1 / std::sqrt(128.0), boost::test_tools::tolerance(0.05));
  auto [cm, cs] = mean_std(values(*f->find(u + "input_blocks.1.0.in_layers.2.weight")));  // [32, 32, 3, 3]
  BOOST_TEST(cs == 1 / std::sqrt(32.0 * 9), boost::test_tools::tolerance(0.05));
  auto [om, os] = mean_std(values(*f->find(u + "out.2.weight")));  // [4, 32, 3, 3], scaled down
  BOOST_TEST(os == 0.1 / std::sqrt(32.0 * 9), boost::test_tools::tolerance(0.1));
  auto [tm, ts] = mean_std(values(*f->find(t + "embeddings.token_embedding.weight")));
  BOOST_TEST(ts == 0.02, boost::test_tools::tolerance(0.02));

  // norms look trained: scales near 1, shifts near 0 but not exactly (a zero-mean final layer
  // norm would make the emphasis re-normalisation divide by ~0)
  auto [gm, gs] = mean_std(values(*f->find(u + "out.0.weight")));
  BOOST_TEST(gm == 1.0, boost::test_tools::tolerance(0.1));
  BOOST_TEST(gs == 0.1, boost::test_tools::tolerance(0.5));
  auto [bm, bs] = mean_std(values(*f->find(t + "final_layer_norm.bias")));
  BOOST_TEST(std::abs(bm) < 0.05);
  BOOST_TEST(bs == 0.1, boost::test_tools::tolerance(0.3));
  auto [fm, fs] = mean_std(values(*f->find(t + "encoder.layers.0.mlp.fc1.bias")));
  BOOST_TEST(fs > 0.01);
  BOOST_TEST(fs < 0.03);
  (void)cm; (void)om; (void)tm; (void)fm;
}

BOOST_AUTO_TEST_CASE(same_seed_gives_identical_bytes) {
  temp_dir tmp;
  make_model(model_preset::tiny, st_dtype::f16, 7, tmp.file("a.safetensors"));
  make_model(model_preset::tiny, st_dtype::f16, 7, tmp.file("b.safetensors"));
  make_model(model_preset::tiny, st_dtype::f16, 8, tmp.file("c.safetensors"));
  const std::string a = read_all(tmp.file("a.safetensors"));
  BOOST_TEST(a.size() > 1000000u);
  BOOST_TEST((a == read_all(tmp.file("b.safetensors"))));
  BOOST_TEST((a != read_all(tmp.file("c.safetensors"))));
}

BOOST_AUTO_TEST_CASE(only_float_weights_can_be_generated) {
  temp_dir tmp;
  BOOST_CHECK_THROW(make_model(model_preset::tiny, st_dtype::i8, 1, tmp.file("x.safetensors")), error);
  BOOST_TEST(!fs::exists(tmp.file("x.safetensors")));
}

BOOST_AUTO_TEST_CASE(sd15_preset_is_the_sd1_default_architecture) {
  BOOST_TEST((preset_config(model_preset::sd15) == model_config{}));
  BOOST_TEST((preset_config(model_preset::tiny) != model_config{}));
}
