#define BOOST_TEST_MODULE model_cache
#include <boost/test/unit_test.hpp>

#include "tests/support/temp_dir.hpp"
#include "tests/support/tiny_model.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/catalog/file_hash.hpp"
#include "runtime/engine/make_model.hpp"
#include "runtime/engine/model_cache.hpp"
#include "runtime/engine/safetensors.hpp"

#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>

using namespace sdw;
using sdw::test::temp_dir;

namespace {

const device_options cpu{"cpu", "f32"};

std::string tiny(const temp_dir& dir, const std::string& name, uint64_t seed) {
  const std::string path = dir.file(name);
  make_model(model_preset::tiny, st_dtype::f32, seed, path);
  return path;
}

/// A VAE file as A1111 reads one (encoder.*, decoder.*, quant_conv.*, post_quant_conv.*): the
/// autoencoder of the checkpoint at `from`.
std::string vae_file_of(const std::string& from, const std::string& out) {
  auto file = safetensors_file::open(from);
  std::vector<st_write_entry> entries;
  const std::string prefix = "first_stage_model.";
  for (const st_tensor& t : file->tensors()) {
    if (t.name.rfind(prefix, 0) == 0) {
      entries.push_back({t.name.substr(prefix.size()), t.dtype, t.shape,
                         std::string(reinterpret_cast<const char*>(t.data), t.nbytes)});
    }
  }
  write_safetensors(out, entries, {});
  return out;
}

at::Tensor latents() {
  at::manual_seed(3);
  return at::randn({1, 4, 8, 8});
}

} // namespace

BOOST_AUTO_TEST_CASE(the_budget_holds_and_the_least_recently_used_go_first) {
  temp_dir dir;
  const std::string a = tiny(dir, "a.safetensors", 7), b = tiny(dir, "b.safetensors", 11),
                    c = tiny(dir, "c.safetensors", 13);
  const size_t one = sd_model::load(a, cpu)->weight_bytes();
  model_cache cache(cpu, 2 * one + one / 2);  // room for two
  size_t expected_loads = 0;
  const auto use = [&](const std::string& path, bool loads) {
    const auto m = cache.get(path, "");
    expected_loads += loads ? 1 : 0;
    BOOST_TEST(m->path() == path);
    BOOST_TEST(cache.loads() == expected_loads, path);
    BOOST_TEST(cache.bytes() <= cache.budget());
  };
  use(a, true);
  use(b, true);
  use(a, false);
  use(c, true);   // b was used least recently: it goes
  use(a, false);
  use(b, true);   // loaded again; c goes
  BOOST_TEST_REQUIRE(cache.contents().size() == 2u);
  BOOST_TEST(cache.contents()[0].checkpoint == b);
  BOOST_TEST(cache.contents()[1].checkpoint == a);
  // A budget smaller than one model still runs each job's model, alone.
  model_cache small(cpu, one / 2);
  small.get(a, "");
  small.get(b, "");
  BOOST_TEST(small.contents().size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_vae_file_replaces_the_checkpoints_own_and_shares_the_rest) {
  temp_dir dir;
  const std::string a = tiny(dir, "a.safetensors", 7), b = tiny(dir, "b.safetensors", 11);
  const std::string vae = vae_file_of(b, dir.file("b-vae.safetensors"));
  model_cache cache(cpu, size_t{1} << 32);
  const auto own = cache.get(a, "");
  const auto with = cache.get(a, vae);
  BOOST_TEST(cache.get(a, vae) == with);  // held, not loaded again
  BOOST_TEST(cache.loads() == 2u);
  BOOST_TEST(own->vae_name().empty());
  BOOST_TEST(with->vae_name() == "b-vae.safetensors");
  BOOST_TEST(with->vae_short_hash() == file_sha256(vae).substr(0, 10));
  // The UNet is the same one, not a copy.
  BOOST_TEST(with->unet().named_weights().front().second.data_ptr() ==
             own->unet().named_weights().front().second.data_ptr());
  // The autoencoder is b's: it decodes as b decodes, not as a's own.
  const auto sd_b = sd_model::load(b, cpu);
  const at::Tensor z = latents();
  BOOST_TEST(at::equal(with->vae().decode(z), sd_b->vae().decode(z)));
  BOOST_TEST(!at::allclose(own->vae().decode(z), sd_b->vae().decode(z)));
}

BOOST_AUTO_TEST_CASE(missing_or_damaged_files_are_errors_naming_them_and_the_cache_goes_on) {
  temp_dir dir;
  const std::string a = tiny(dir, "a.safetensors", 7);
  model_cache cache(cpu, size_t{1} << 32);
  cache.get(a, "");
  const auto names = [&](const std::string& path, const std::string& vae, const std::string& file) {
    try {
      cache.get(path, vae);
    } catch (const error& e) {
      BOOST_TEST(std::string(e.what()).find(file) != std::string::npos, e.what());
      return;
    }
    BOOST_FAIL("no error for " + file);
  };
  names(dir.file("missing.safetensors"), "", "missing.safetensors");
  const std::string vae = vae_file_of(a, dir.file("v.safetensors"));
  std::filesystem::resize_file(vae, std::filesystem::file_size(vae) / 2);
  names(a, vae, "v.safetensors");
  BOOST_TEST(cache.get(a, "")->path() == a);
}
