#define BOOST_TEST_MODULE json_value
#include <boost/test/unit_test.hpp>

#include "runtime/base/errors.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/base/unicode_text.hpp"

#include <string>

using namespace sdw;

namespace {

// {"k0":0,"k1":1,...} with `n` distinct keys.
std::string object_with_keys(std::size_t n) {
  std::string s = "{";
  for (std::size_t i = 0; i < n; ++i) s += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":" + std::to_string(i);
  return s + "}";
}

std::string nested_arrays(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// The message of the sdw::error that parse_json throws, or "" when it parses.
std::string refusal(const std::string& text, const json_limits& limits = {}) {
  try {
    parse_json(text, "body", limits);
  } catch (const error& e) {
    BOOST_TEST(e.code() == errc::bad_request);
    BOOST_TEST(e.where() == "body");
    return e.message();
  }
  return "";
}

} // namespace

BOOST_AUTO_TEST_CASE(repeated_keys_keep_the_first_position_and_the_last_value) {
  const json_value small = parse_json(R"({"a":1,"b":2,"a":3})");
  BOOST_TEST_REQUIRE(small.as_object().size() == 2u);
  BOOST_TEST(small.as_object()[0].first == "a");
  BOOST_TEST(small.as_object()[0].second.as_int() == 3);
  BOOST_TEST(small.as_object()[1].first == "b");

  // Past the size where the members are indexed by a hash table: the same rule.
  std::string text = object_with_keys(40);
  text.back() = ',';
  text += R"("k5":"again","k39":"last","new":true})";
  const json_value big = parse_json(text);
  const auto& members = big.as_object();
  BOOST_TEST_REQUIRE(members.size() == 41u);
  BOOST_TEST(members[5].first == "k5");
  BOOST_TEST(members[5].second.as_string() == "again");
  BOOST_TEST(members[39].second.as_string() == "last");
  BOOST_TEST(members[40].first == "new");
  for (std::size_t i = 0; i < 40; ++i) BOOST_TEST(members[i].first == "k" + std::to_string(i));
}

BOOST_AUTO_TEST_CASE(unique_members_dedupes_like_a_python_dict) {
  std::vector<json_member> m;
  for (int i = 0; i < 100; ++i) m.emplace_back("k" + std::to_string(i % 30), i);
  const json_object o = unique_members(std::move(m));
  BOOST_TEST_REQUIRE(o.size() == 30u);
  BOOST_TEST(o[0].first == "k0");
  BOOST_TEST(o[0].second.as_int() == 90);
  BOOST_TEST(o[29].second.as_int() == 89);
}

// The body that took 27 s when each key was compared with every earlier one (1.6 MB, 100,000 keys;
// its parse time against 4x the keys is measured by sdw-bench-json).
BOOST_AUTO_TEST_CASE(an_object_of_100000_keys_keeps_every_key_in_order) {
  const std::string text = object_with_keys(100000);
  BOOST_TEST(text.size() > 1000000u);
  const json_value v = parse_json(text, "body", json_limits{64, 200000});
  BOOST_TEST_REQUIRE(v.as_object().size() == 100000u);
  BOOST_TEST(v.as_object()[50000].first == "k50000");
  BOOST_TEST(v.as_object().back().second.as_int() == 99999);
}

BOOST_AUTO_TEST_CASE(documents_over_the_limits_are_refused_naming_the_limit) {
  BOOST_TEST(refusal(object_with_keys(10000)).empty());
  BOOST_TEST(refusal(object_with_keys(10001)).find("more than 10000 values") != std::string::npos);
  std::string items = "[0";
  for (int i = 1; i <= 10000; ++i) items += ",0";
  BOOST_TEST(refusal(items + "]").find("more than 10000 values") != std::string::npos);
  // Items of nested arrays and members of nested objects count too.
  // "a", its three items and "b": five values.
  BOOST_TEST(refusal(R"({"a":[1,2,{"b":3}]})", json_limits{64, 5}).empty());
  BOOST_TEST(refusal(R"({"a":[1,2,{"b":3,"c":4}]})", json_limits{64, 5}).find("more than 5 values") != std::string::npos);

  BOOST_TEST(refusal(nested_arrays(64)).empty());
  BOOST_TEST(refusal(nested_arrays(65)).find("nested deeper than 64 levels") != std::string::npos);
  BOOST_TEST(refusal(nested_arrays(100000)).find("nested deeper than 64 levels") != std::string::npos);
  BOOST_TEST(refusal(R"({"a":{"b":{"c":1}}})", json_limits{3, 100}).empty());
  BOOST_TEST(refusal(R"({"a":{"b":{"c":[]}}})", json_limits{3, 100}).find("deeper than 3") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(malformed_documents_keep_pythons_messages) {
  BOOST_TEST(refusal("{\"a\":}") == "Expecting value: line 1 column 6 (char 5)");
  BOOST_TEST(refusal("").find("Expecting value") == 0u);
}

BOOST_AUTO_TEST_CASE(utf8_validity) {
  BOOST_TEST(unicode::is_valid_utf8(""));
  BOOST_TEST(unicode::is_valid_utf8("plain ascii"));
  BOOST_TEST(unicode::is_valid_utf8("caf\xc3\xa9 \xf0\x9f\x98\x80"));
  BOOST_TEST(!unicode::is_valid_utf8("\xff"));
  BOOST_TEST(!unicode::is_valid_utf8("caf\xc3"));           // cut short
  BOOST_TEST(!unicode::is_valid_utf8("\xc0\xaf"));          // overlong '/'
  BOOST_TEST(!unicode::is_valid_utf8("\xed\xa0\x80"));      // an encoded surrogate
  BOOST_TEST(!unicode::is_valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
}
