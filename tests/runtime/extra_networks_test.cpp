#define BOOST_TEST_MODULE extra_networks
#include <boost/test/unit_test.hpp>

#include "runtime/formats/extra_networks.hpp"

#include <cmath>

// Tags read as A1111 1.9.4's extra_networks.py and the Lora extension read them.

namespace {

sdw::lora_request loras(const std::string& prompt) { return sdw::lora_request_of(sdw::parse_extra_networks(prompt)); }

} // namespace

BOOST_AUTO_TEST_CASE(tags_are_removed_and_grouped_by_type_in_order_of_first_appearance) {
  const auto t = sdw::parse_extra_networks("a <lora:x:0.5> cat, <hypernet:h> <lyco:y> <lora:z>");
  BOOST_TEST(t.prompt == "a  cat,   ");
  BOOST_TEST_REQUIRE(t.by_type.size() == 3u);
  BOOST_TEST(t.by_type[0].first == "lora");
  BOOST_TEST(t.by_type[0].second.size() == 2u);
  BOOST_TEST(t.by_type[1].first == "hypernet");
  BOOST_TEST(t.by_type[2].first == "lyco");
  // Not tags: no type, no arguments, an unclosed tag, a type with a non-word character.
  for (const std::string s : {"<:x>", "<lora:>", "<lora:x", "<lo-ra:x>", "a < b > c"}) {
    BOOST_TEST(sdw::parse_extra_networks(s).prompt == s);
  }
  // \w is Unicode's; the arguments run to the first '>' and may hold '<'.
  BOOST_TEST(sdw::parse_extra_networks("<café:x>y").prompt == "y");
  const auto nested = sdw::parse_extra_networks("<lora:<a:1>>");
  BOOST_TEST(nested.prompt == ">");
  BOOST_TEST(nested.by_type[0].second[0].items[0] == "<a");
}

BOOST_AUTO_TEST_CASE(lora_arguments_are_read_as_the_extension_reads_them) {
  auto r = loras("<lora:a> <lora:b:0.5> <lora:c:0.5:0.8> <lora:d:te=0.25:unet=2> <lora:e:1:2:8> <lora:f:unet=0.3:0.6>");
  BOOST_TEST_REQUIRE(r.error.empty());
  BOOST_TEST_REQUIRE(r.tags.size() == 6u);
  BOOST_TEST((r.tags[0].te == 1.0 && r.tags[0].unet == 1.0 && !r.tags[0].dyn));
  BOOST_TEST((r.tags[1].te == 0.5 && r.tags[1].unet == 0.5));
  BOOST_TEST((r.tags[2].te == 0.5 && r.tags[2].unet == 0.8));
  BOOST_TEST((r.tags[3].te == 0.25 && r.tags[3].unet == 2.0));
  BOOST_TEST((r.tags[4].dyn && *r.tags[4].dyn == 8));
  BOOST_TEST((r.tags[5].te == 0.6 && r.tags[5].unet == 0.3));  // named wins, positional te
  // lora and lyco join, lora's first when lora appears first.
  r = loras("<lyco:y> <lora:x> <lyco:z>");
  BOOST_TEST_REQUIRE(r.tags.size() == 3u);
  BOOST_TEST((r.tags[0].name == "y" && r.tags[1].name == "z" && r.tags[2].name == "x"));
  // A name is the first positional item as written; an item with two '=' is positional.
  r = loras("<lora:te=1:a=b=c:0.5>");
  BOOST_TEST_REQUIRE(r.tags.size() == 1u);
  BOOST_TEST(r.tags[0].name == "a=b=c");
  BOOST_TEST(r.tags[0].te == 1.0);
  // A multiplier float() rejects: no LoRA at all, and why.
  r = loras("<lora:a:1> <lora:b:x>");
  BOOST_TEST(r.tags.empty());
  BOOST_TEST(r.error.find("'x'") != std::string::npos);
  BOOST_TEST(loras("<lora:te=1>").tags.empty());
  BOOST_TEST(loras("a cat (negative tags are not parsed here)").tags.empty());
}

BOOST_AUTO_TEST_CASE(numbers_follow_python_float_and_int) {
  BOOST_TEST(*sdw::python_float(" 0.5 ") == 0.5);
  BOOST_TEST(*sdw::python_float("1_0.2_5") == 10.25);
  BOOST_TEST(*sdw::python_float("-.5e1") == -5.0);
  BOOST_TEST(*sdw::python_float("5.") == 5.0);
  BOOST_TEST(std::isinf(*sdw::python_float("-Infinity")));
  BOOST_TEST(std::isnan(*sdw::python_float("nan")));
  for (const std::string bad : {"", ".", "1__0", "_1", "1_", "1e", "0x10", "1.2.3", "one"}) {
    BOOST_TEST(!sdw::python_float(bad).has_value(), bad);
  }
  BOOST_TEST(*sdw::python_int(" +0_8 ") == 8);
  BOOST_TEST(!sdw::python_int("8.0").has_value());
}

BOOST_AUTO_TEST_CASE(the_key_text_tells_lora_lists_apart) {
  const auto key = [](const std::string& p) { return sdw::lora_key_text(loras(p)); };
  BOOST_TEST(key("a <lora:x:1>") == key("b <lora:x:1.0>"));
  BOOST_TEST(key("<lora:x:1>") != key("<lora:x:1.0000001>"));
  BOOST_TEST(key("<lora:x:1> <lora:y:1>") != key("<lora:y:1> <lora:x:1>"));
  BOOST_TEST(key("<lora:x:1:1>") == key("<lora:x:te=1>"));
  BOOST_TEST(key("a cat").empty());
}
