#define BOOST_TEST_MODULE sd1_modules
#include <boost/test/unit_test.hpp>

#include "runtime/base/errors.hpp"
#include "runtime/base/npy.hpp"
#include "runtime/engine/safetensors.hpp"
#include "runtime/engine/sd_model.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/tiny_model.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <array>
#include <cstdio>

namespace {

void save(const std::string& path, const at::Tensor& t) {
  auto c = t.to(at::kFloat).contiguous();
  sdw::write_npy_f32(path, std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel()), c.sizes().vec());
}

} // namespace

// The three networks against an independent PyTorch implementation of the same architecture,
// reading the same checkpoint: catches wrong key mapping, wiring, norms and attention.
BOOST_AUTO_TEST_CASE(networks_match_an_independent_pytorch_implementation) {
  sdw::test::temp_dir dir;
  const auto ckpt = sdw::test::tiny_model(dir);
  auto model = sdw::sd_model::load(ckpt, {"cpu", "f32"});
  c10::InferenceMode guard;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1234);

  std::vector<int64_t> ids(2 * 77, 49407);
  const int64_t words[] = {320, 1125, 539, 320, 2368, 267, 1929};
  for (int b = 0; b < 2; ++b) {
    ids[b * 77] = 49406;
    for (int i = 0; i < 7 - 2 * b; ++i) {
      ids[b * 77 + 1 + i] = words[i];
    }
  }
  auto tokens = at::tensor(ids, at::kLong).view({2, 77});
  auto text = model->text().encode(tokens, 1);
  BOOST_TEST(text.sizes() == (std::vector<int64_t>{2, 77, model->config().text.width}));

  auto x = at::randn({2, 4, 8, 8}, gen);
  auto t = at::tensor({10.5f, 700.25f});
  auto ctx = at::randn({2, 77, model->config().unet.context_dim}, gen);
  auto eps = model->unet().forward(x, t, ctx);
  BOOST_TEST(eps.sizes() == x.sizes());

  auto z = at::randn({1, 4, 8, 8}, gen);
  auto image = model->vae().decode(z);
  BOOST_TEST(image.sizes() == (std::vector<int64_t>{1, 3, 64, 64}));

  save(dir.file("tokens.npy"), tokens);
  save(dir.file("text.npy"), text);
  save(dir.file("x.npy"), x);
  save(dir.file("t.npy"), t);
  save(dir.file("ctx.npy"), ctx);
  save(dir.file("eps.npy"), eps);
  save(dir.file("z.npy"), z);
  save(dir.file("image.npy"), image);
  const std::string script = std::string(std::getenv("SDW_SOURCE_DIR")) + "/tests/reference/sd1_reference.py";
  const auto heads_unet = model->config().unet.num_heads;
  const auto heads_text = model->config().text.heads;
  auto [rc, out] = sdw::test::run_command(sdw::test::python() + " " + script + " " + ckpt + " " + dir.path + " " + std::to_string(heads_unet) +
                       " " + std::to_string(heads_text));
  BOOST_TEST_MESSAGE(out);
  BOOST_TEST(rc == 0, "reference comparison failed:\n" << out);
}

BOOST_AUTO_TEST_CASE(clip_skip_changes_the_text_encoding) {
  sdw::test::temp_dir dir;
  auto model = sdw::sd_model::load(sdw::test::tiny_model(dir), {"cpu", "f32"});
  auto tokens = at::full({1, 77}, 49407, at::kLong);
  tokens[0][0] = 49406;
  auto a = model->text().encode(tokens, 1);
  auto b = model->text().encode(tokens, 2);
  BOOST_TEST(!at::allclose(a, b));
}

BOOST_AUTO_TEST_CASE(a_missing_tensor_is_an_error_naming_file_and_tensor) {
  sdw::test::temp_dir dir;
  const auto ckpt = sdw::test::tiny_model(dir);
  auto file = sdw::safetensors_file::open(ckpt);
  std::vector<sdw::st_write_entry> entries;
  const std::string dropped = "model.diffusion_model.out.2.weight";
  for (const auto& t : file->tensors()) {
    if (t.name != dropped) {
      entries.push_back({t.name, t.dtype, t.shape, std::string(reinterpret_cast<const char*>(t.data), t.nbytes)});
    }
  }
  const auto broken = dir.file("broken.safetensors");
  std::filesystem::copy_file(dir.file("tiny.yaml"), dir.file("broken.yaml"));
  sdw::write_safetensors(broken, entries, {});
  try {
    sdw::sd_model::load(broken, {"cpu", "f32"});
    BOOST_FAIL("loading a checkpoint without " << dropped << " succeeded");
  } catch (const sdw::error& e) {
    BOOST_TEST(e.code() == sdw::errc::bad_checkpoint);
    BOOST_TEST(std::string(e.what()).find(broken) != std::string::npos);
    BOOST_TEST(std::string(e.what()).find(dropped) != std::string::npos);
  }
}

// fp16 weights used from the file mapping (widened per use) give exactly what weights widened
// at load give: float16 → float32 is exact either way.
BOOST_AUTO_TEST_CASE(weights_kept_in_file_dtype_compute_the_same) {
  sdw::test::temp_dir dir;
  const auto ckpt = dir.file("half.safetensors");
  sdw::make_model(sdw::model_preset::tiny, sdw::st_dtype::f16, 11, ckpt);
  sdw::device_options kept{"cpu", "f32"};
  kept.keep_file_dtype = true;
  sdw::device_options widened{"cpu", "f32"};
  widened.keep_file_dtype = false;
  auto a = sdw::sd_model::load(ckpt, kept);
  auto b = sdw::sd_model::load(ckpt, widened);
  c10::InferenceMode guard;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  auto tokens = at::full({1, 77}, 49407, at::kLong);
  tokens[0][0] = 49406;
  tokens[0][1] = 2368;
  auto ta = a->text().encode(tokens, 1);
  BOOST_TEST(ta.scalar_type() == at::kFloat);
  BOOST_TEST(at::equal(ta, b->text().encode(tokens, 1)));
  auto x = at::randn({2, 4, 8, 8}, gen);
  auto t = at::tensor({3.0f, 900.5f});
  auto ctx = at::randn({2, 77, a->config().unet.context_dim}, gen);
  BOOST_TEST(at::equal(a->unet().forward(x, t, ctx), b->unet().forward(x, t, ctx)));
  auto z = at::randn({1, 4, 8, 8}, gen);
  BOOST_TEST(at::equal(a->vae().decode(z), b->vae().decode(z)));
}
