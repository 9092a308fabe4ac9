#define BOOST_TEST_MODULE a1111_options_store
#include <boost/test/unit_test.hpp>

#include "runtime/formats/a1111_options_store.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/formats/options.hpp"
#include "tests/support/temp_dir.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>

using namespace sdw;

namespace {

const json_value& at(const json_value& v, const std::string& key) {
  const json_value* m = v.find(key);
  BOOST_TEST_REQUIRE(m != nullptr, "no key " << key);
  return *m;
}

} // namespace

BOOST_AUTO_TEST_CASE(every_option_key_has_its_default) {
  BOOST_TEST(a1111_option_defaults().size() == a1111_option_keys().size());
  const json_value o = parse_json(options_json({}, {}));
  BOOST_TEST(o.as_object().size() == 314u);
  BOOST_TEST(at(o, "samples_format").as_string() == "png");
  BOOST_TEST(at(o, "jpeg_quality").as_int() == 80);
  BOOST_TEST(at(o, "img_downscale_threshold").as_number() == 4.0);
  BOOST_TEST(at(o, "sd_model_checkpoint").is_null());
  BOOST_TEST(at(o, "keyedit_delimiters").as_string() == ".,\\/!?%^*;:{}=`~() ");
  BOOST_TEST(at(o, "quicksettings_list").as_array().at(0).as_string() == "sd_model_checkpoint");
  // The engine's own defaults agree with the table.
  const options engine;
  for (const char* key : {"CLIP_stop_at_last_layers", "eta_ancestral", "randn_source", "uni_pc_order", "emphasis"}) {
    BOOST_TEST((at(o, key) == option_value(engine, key)), key);
  }
}

BOOST_AUTO_TEST_CASE(the_loaded_checkpoint_shows_unless_one_is_stored) {
  const json_value o = parse_json(options_json({}, {"tiny.safetensors [0123456789]", "0123456789abcdef"}));
  BOOST_TEST(at(o, "sd_model_checkpoint").as_string() == "tiny.safetensors [0123456789]");
  BOOST_TEST(at(o, "sd_checkpoint_hash").as_string() == "0123456789abcdef");
}

BOOST_AUTO_TEST_CASE(posted_options_merge_and_bad_ones_are_refused) {
  auto post = post_options(R"({"CLIP_stop_at_last_layers":2,"jpeg_quality":90})", {}, {});
  BOOST_TEST_REQUIRE(!post.refused);
  post = post_options(R"({"CLIP_stop_at_last_layers":3})", post.stored, {});
  BOOST_TEST_REQUIRE(!post.refused);
  const json_value o = parse_json(options_json(post.stored, {}));
  BOOST_TEST(at(o, "CLIP_stop_at_last_layers").as_int() == 3);
  BOOST_TEST(at(o, "jpeg_quality").as_int() == 90);

  const auto only_tiny = [](const std::string& name) { return name == "tiny.safetensors"; };
  auto bad = post_options(R"({"sd_model_checkpoint":"other.safetensors"})", post.stored, only_tiny);
  BOOST_TEST_REQUIRE(bad.refused.has_value());
  BOOST_TEST(bad.refused->status == 500);
  BOOST_TEST(bad.refused->body ==
             R"({"error":"RuntimeError","detail":"","body":"","errors":"model 'other.safetensors' not found"})");
  BOOST_TEST(!post_options(R"({"sd_model_checkpoint":"tiny.safetensors"})", {}, only_tiny).refused);

  bad = post_options(R"({"no_such_key":1})", {}, {});
  BOOST_TEST(bad.refused->status == 500);
  BOOST_TEST(bad.refused->body.find(R"("error":"KeyError")") != std::string::npos);
  bad = post_options(R"({"CLIP_stop_at_last_layers":99})", {}, {});
  BOOST_TEST(bad.refused->status == 422);
  BOOST_TEST(bad.refused->body.find(R"("loc":["body","CLIP_stop_at_last_layers"])") != std::string::npos);
  bad = post_options("[]", {}, {});
  BOOST_TEST(bad.refused->status == 422);
  // A refused post stores nothing of it.
  BOOST_TEST(bad.stored.empty());
}

