#define BOOST_TEST_MODULE ckpt_load
#include <boost/test/unit_test.hpp>

#include "tests/runtime/python_reference.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/engine/clip_tokenizer.hpp"
#include "runtime/engine/make_model.hpp"
#include "runtime/engine/safetensors.hpp"
#include "runtime/engine/sd_model.hpp"
#include "runtime/engine/txt2img.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/formats/txt2img_request.hpp"

#include <ATen/ATen.h>

#include <cstdlib>
#include <filesystem>

namespace fs = std::filesystem;
using namespace sdw;

namespace {

/// A tiny f32 checkpoint and the files tests/runtime/ckpt_reference.py writes from it with torch.save.
struct files {
  test::temp_dir dir{"ckpt_load"};
  std::string tiny = dir.path + "/tiny.safetensors";
  files() {
    make_model(model_preset::tiny, st_dtype::f32, 7, tiny);
    test::run_python("ckpt_reference.py", "'" + tiny + "' '" + dir.path + "'");
  }
  std::string operator()(const std::string& name) const { return dir.path + "/" + name; }
};

const files& the_files() {
  static files f;
  return f;
}

std::shared_ptr<sd_model> load(const std::string& path) { return sd_model::load(path, {"cpu", "f32"}); }

at::Tensor decoded(const sd_model& m) {
  at::manual_seed(3);
  return m.vae().decode(at::randn({1, m.config().vae.z_channels, 8, 8}));
}

void expect_same_vae(const sd_model& a, const sd_model& b) { BOOST_TEST(at::equal(decoded(a), decoded(b))); }

/// Every parameter of the text encoder and UNet equal, the schedule equal, and the VAE decoding a
/// fixed latent to the same bytes.
void expect_same_model(const sd_model& a, const sd_model& b) {
  const auto same_weights = [](const auto& x, const auto& y) {
    BOOST_TEST_REQUIRE(x.size() == y.size());
    for (size_t i = 0; i < x.size(); ++i) {
      BOOST_TEST(x[i].first == y[i].first);
      BOOST_TEST(at::equal(x[i].second, y[i].second), x[i].first);
    }
  };
  same_weights(a.text().named_weights(), b.text().named_weights());
  same_weights(a.unet().named_weights(), b.unet().named_weights());
  BOOST_TEST(at::equal(a.schedule().alphas_cumprod(), b.schedule().alphas_cumprod()));
  expect_same_vae(a, b);
}


/// A short txt2img job: its final latent and its pixels.
std::pair<std::vector<float>, std::vector<uint8_t>> txt2img(const sd_model& m) {
  static const clip_tokenizer tokenizer = clip_tokenizer::from_file([] {
    const char* shared = std::getenv("SDW_SHARED_DIR");
    return std::string(shared ? shared : "../shared") + "/clip/bpe_simple_vocab_16e6.txt.gz";
  }());
  const txt2img_request req = parse_txt2img_request(
    R"({"prompt": "a red fox", "negative_prompt": "blurry", "seed": 42, "steps": 3, "width": 64, "height": 64,
        "sampler_name": "Euler a", "cfg_scale": 7})");
  std::vector<float> latent;
  txt2img_hooks hooks;
  hooks.on_latent = [&](const std::vector<float>& l, const std::vector<int64_t>&) { latent = l; };
  const txt2img_result r = run_txt2img(m, tokenizer, req, options{}, hooks);
  BOOST_TEST_REQUIRE(r.images.size() == 1u);
  return {latent, r.images[0].pixels};
}

void expect_error_naming(const std::string& path, const std::function<void()>& f) {
  try {
    f();
    BOOST_FAIL("no error for " + path);
  } catch (const error& e) {
    BOOST_TEST((e.where() == path || std::string(e.what()).find(path) != std::string::npos), e.what());
  }
}

} // namespace

BOOST_AUTO_TEST_CASE(a_ckpt_gives_the_same_model_and_images_as_its_safetensors) {
  const files& f = the_files();
  const auto st = load(f.tiny);
  const auto ckpt = load(f("tiny.ckpt"));
  expect_same_model(*st, *ckpt);
  const auto a = txt2img(*st);
  const auto b = txt2img(*ckpt);
  BOOST_TEST(!a.first.empty());
  BOOST_TEST(a.first == b.first);
  BOOST_TEST(a.second == b.second);
}

BOOST_AUTO_TEST_CASE(legacy_container_bare_dicts_and_old_text_encoder_keys_load_the_same_model) {
  const files& f = the_files();
  const auto st = load(f.tiny);
  for (const char* name : {"tiny_legacy.ckpt", "tiny_bare.pth", "tiny_oldkeys.ckpt"}) {
    BOOST_TEST_CONTEXT(name) { expect_same_model(*st, *load(f(name))); }
  }
}

BOOST_AUTO_TEST_CASE(a_ckpt_that_would_run_code_is_refused_naming_the_file) {
  const files& f = the_files();
  expect_error_naming(f("evil.ckpt"), [&] { load(f("evil.ckpt")); });
  BOOST_TEST(!fs::exists(f("MARKER")));
}

BOOST_AUTO_TEST_CASE(a_truncated_ckpt_is_an_error_naming_the_file) {
  const files& f = the_files();
  expect_error_naming(f("truncated.ckpt"), [&] { load(f("truncated.ckpt")); });
}

BOOST_AUTO_TEST_CASE(a_pt_vae_gives_the_same_vae_as_the_same_tensors_in_safetensors) {
  const files& f = the_files();
  // The same VAE tensors as a .safetensors file, keys without the first_stage_model. prefix.
  const auto tiny = safetensors_file::open(f.tiny);
  std::vector<st_write_entry> entries;
  const std::string prefix = "first_stage_model.";
  for (const st_tensor& t : tiny->tensors()) {
    if (t.name.rfind(prefix, 0) == 0) {
      entries.push_back({t.name.substr(prefix.size()), t.dtype, t.shape,
                         std::string(reinterpret_cast<const char*>(t.data), t.nbytes)});
    }
  }
  BOOST_TEST_REQUIRE(!entries.empty());
  // Halved, as ckpt_reference.py halves vae.pt, so that a VAE left as the model's own would differ.
  for (auto& e : entries) {
    BOOST_TEST_REQUIRE((e.dtype == st_dtype::f32));
    float* v = reinterpret_cast<float*>(e.bytes.data());
    for (size_t i = 0; i < e.bytes.size() / 4; ++i) v[i] *= 0.5f;
  }
  write_safetensors(f("vae.safetensors"), entries, {});
  const auto base = load(f("tiny_legacy.ckpt"));
  const auto from_pt = base->with_vae(f("vae.pt"), {"cpu", "f32"});
  const auto from_st = base->with_vae(f("vae.safetensors"), {"cpu", "f32"});
  expect_same_vae(*from_pt, *from_st);
  BOOST_TEST(!at::equal(decoded(*from_pt), decoded(*base)));
  BOOST_TEST(from_pt->vae_name() == "vae.pt");
}
