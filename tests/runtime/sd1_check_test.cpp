#define BOOST_TEST_MODULE sd1_check
#include <boost/test/unit_test.hpp>

#include "tests/support/temp_dir.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/engine/make_model.hpp"
#include "runtime/engine/sd1_check.hpp"
#include "runtime/engine/sd1_layout.hpp"

#include <filesystem>

namespace fs = std::filesystem;
using namespace sdw;

namespace {

using sdw::test::temp_dir;

// The tiny layout in zeros, with `edit` applied to each entry (returning false drops it).
std::string write_tiny(const temp_dir& tmp, const std::string& name, std::function<bool(st_write_entry&)> edit) {
  std::vector<st_write_entry> entries;
  for (const auto& s : sd1_checkpoint_layout(preset_config(model_preset::tiny))) {
    int64_t n = 1;
    for (auto d : s.shape) n *= d;
    st_write_entry e{s.name, st_dtype::f16, s.shape, std::string(2 * n, '\0')};
    if (edit(e)) entries.push_back(std::move(e));
  }
  write_safetensors(tmp.file(name), entries, {});
  return tmp.file(name);
}

std::string check_message(const std::string& path, const model_config& config) {
  auto f = safetensors_file::open(path);
  try {
    check_sd1_checkpoint(*f, config);
  } catch (const error& e) {
    BOOST_TEST((e.code() == errc::bad_checkpoint));
    BOOST_TEST(e.where() == path);
    return e.message();
  }
  return "";
}

} // namespace

BOOST_AUTO_TEST_CASE(a_complete_checkpoint_passes_and_a_wrong_config_is_named) {
  temp_dir tmp;
  const std::string path = tmp.file("tiny.safetensors");
  make_model(model_preset::tiny, st_dtype::f16, 3, path);
  BOOST_TEST(check_message(path, preset_config(model_preset::tiny)) == "");
  model_config sd15;
  sd15.source = "defaults";
  std::string msg = check_message(path, sd15);
  BOOST_TEST(msg.find("tensor 'model.diffusion_model.time_embed.0.weight': has shape [128, 32] but the model "
                      "expects [1280, 320]") == 0);
  BOOST_TEST(msg.find("more tensors missing or mismatched); model config: defaults") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(missing_and_non_float_tensors_are_named) {
  temp_dir tmp;
  const std::string gone = "first_stage_model.decoder.conv_out.bias";
  auto missing = write_tiny(tmp, "missing.safetensors", [&](st_write_entry& e) { return e.name != gone; });
  BOOST_TEST(check_message(missing, preset_config(model_preset::tiny)).find("tensor '" + gone + "': missing") == 0);

  const std::string ints = "model.diffusion_model.out.2.bias";
  auto typed = write_tiny(tmp, "ints.safetensors", [&](st_write_entry& e) {
    if (e.name == ints) e.dtype = st_dtype::i16;
    return true;
  });
  BOOST_TEST(check_message(typed, preset_config(model_preset::tiny)).find("tensor '" + ints + "': has dtype I16") == 0);
}

BOOST_AUTO_TEST_CASE(older_text_encoder_names_are_accepted) {
  temp_dir tmp;
  const std::string newp(sd1_text_prefix);
  auto old = write_tiny(tmp, "old.safetensors", [&](st_write_entry& e) {
    if (e.name.rfind(newp, 0) == 0) e.name = "cond_stage_model.transformer." + e.name.substr(newp.size());
    return true;
  });
  BOOST_TEST(check_message(old, preset_config(model_preset::tiny)) == "");
  auto f = safetensors_file::open(old);
  auto m = sd1_tensor_map(*f);
  BOOST_TEST_REQUIRE(m.count(newp + "final_layer_norm.weight") == 1u);
  BOOST_TEST(m.at(newp + "final_layer_norm.weight")->name == "cond_stage_model.transformer.final_layer_norm.weight");
}
