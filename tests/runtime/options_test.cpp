#define BOOST_TEST_MODULE options
#include <boost/test/unit_test.hpp>

#include "runtime/base/errors.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/formats/options.hpp"

using namespace sdw;

namespace {

std::string override_error(const std::string& key, const json_value& value) {
  options o;
  try {
    apply_override(o, key, value);
  } catch (const error& e) {
    BOOST_TEST(e.where() == "override_settings." + key);
    BOOST_TEST(static_cast<int>(e.code()) == static_cast<int>(errc::bad_request));
    return e.message();
  }
  BOOST_FAIL("no error for " + key);
  return {};
}

} // namespace

BOOST_AUTO_TEST_CASE(defaults_are_a1111s) {
  const options o;
  BOOST_TEST(o.randn_source == "GPU");
  BOOST_TEST(o.eta_noise_seed_delta == 0);
  BOOST_TEST(o.CLIP_stop_at_last_layers == 1);
  BOOST_TEST(o.emphasis == "Original");
  BOOST_TEST(o.comma_padding_backtrack == 20);
  BOOST_TEST(o.eta_ancestral == 1.0);
  BOOST_TEST(o.eta_ddim == 0.0);
  BOOST_TEST(o.s_noise == 1.0);
  BOOST_TEST(o.sd_vae == "Automatic");
  BOOST_TEST(!o.sd_model_checkpoint.has_value());
  BOOST_TEST(o.uni_pc_variant == "bh1");
  BOOST_TEST(o.uni_pc_skip_type == "time_uniform");
  BOOST_TEST(o.uni_pc_order == 3);
  BOOST_TEST(o.enable_prompt_comments);
  BOOST_TEST(o.batch_cond_uncond);
  BOOST_TEST(!o.no_dpmpp_sde_batch_determinism);
}

BOOST_AUTO_TEST_CASE(overrides_apply_in_order) {
  options o;
  const json_value overrides = parse_json(
      R"({"CLIP_stop_at_last_layers": 2, "eta_noise_seed_delta": 31337, "randn_source": "CPU",
          "eta_ancestral": 0, "always_discard_next_to_last_sigma": true, "sd_model_checkpoint": "deliberate_v6",
          "s_noise": 1.0, "uni_pc_order": 2.0, "no_dpmpp_sde_batch_determinism": true})");
  apply_overrides(o, overrides.as_object());
  BOOST_TEST(o.CLIP_stop_at_last_layers == 2);
  BOOST_TEST(o.eta_noise_seed_delta == 31337);
  BOOST_TEST(o.randn_source == "CPU");
  BOOST_TEST(o.eta_ancestral == 0.0);
  BOOST_TEST(o.always_discard_next_to_last_sigma);
  BOOST_TEST(*o.sd_model_checkpoint == "deliberate_v6");
  BOOST_TEST(o.uni_pc_order == 2);
  BOOST_TEST(o.no_dpmpp_sde_batch_determinism);
  BOOST_TEST(option_value(o, "no_dpmpp_sde_batch_determinism").as_bool());
  BOOST_TEST(option_value(o, "randn_source").as_string() == "CPU");
  BOOST_TEST(option_value(o, "CLIP_stop_at_last_layers").as_int() == 2);
}

BOOST_AUTO_TEST_CASE(other_a1111_keys_are_ignored) {
  options o;
  apply_override(o, "samples_save", json_value(false));
  apply_override(o, "sd_checkpoint_hash", json_value("abc"));
  apply_override(o, "hypertile_enable_unet", json_value(true));
  BOOST_TEST(a1111_option_keys().size() > 300u);
  BOOST_TEST(is_a1111_option_key("enable_prompt_comments"));
  BOOST_TEST(!is_a1111_option_key("no_such_option"));
}

BOOST_AUTO_TEST_CASE(wrong_types_and_unknown_keys_are_named) {
  BOOST_TEST(override_error("CLIP_stop_at_last_layers", json_value("2")).find("expected an integer") == 0u);
  BOOST_TEST(override_error("CLIP_stop_at_last_layers", json_value(13)).find("from 1 to 12") != std::string::npos);
  BOOST_TEST(override_error("eta_ancestral", json_value("x")).find("expected a number") == 0u);
  BOOST_TEST(override_error("enable_pnginfo", json_value(1)).find("expected true or false") == 0u);
  BOOST_TEST(override_error("randn_source", json_value("TPU")) == "expected one of GPU, CPU, NV, got \"TPU\"");
  BOOST_TEST(override_error("sd_vae", json_value(3)).find("expected a string") == 0u);
  BOOST_TEST(override_error("no_such_option", json_value(1)) == "unknown option \"no_such_option\"");
}
