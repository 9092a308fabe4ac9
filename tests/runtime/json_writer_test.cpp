#define BOOST_TEST_MODULE json_writer
#include <boost/test/unit_test.hpp>

#include "runtime/base/errors.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/base/json_writer.hpp"

#include <cmath>
#include <limits>

using namespace sdw;

namespace {

std::string bad_body_message(const std::string& text) {
  try {
    parse_json(text);
  } catch (const error& e) {
    BOOST_TEST(e.where() == "body");
    BOOST_TEST(static_cast<int>(e.code()) == static_cast<int>(errc::bad_request));
    return e.message();
  }
  BOOST_FAIL("no error for " + text);
  return {};
}

} // namespace

BOOST_AUTO_TEST_CASE(floats_print_as_python_repr) {
  BOOST_TEST(python_float_repr(7.0) == "7.0");
  BOOST_TEST(python_float_repr(0.75) == "0.75");
  BOOST_TEST(python_float_repr(1e-05) == "1e-05");
  BOOST_TEST(python_float_repr(2.5e-05) == "2.5e-05");
  BOOST_TEST(python_float_repr(0.0001) == "0.0001");
  BOOST_TEST(python_float_repr(1e16) == "1e+16");
  BOOST_TEST(python_float_repr(1e15) == "1000000000000000.0");
  BOOST_TEST(python_float_repr(0.1 + 0.2) == "0.30000000000000004");
  BOOST_TEST(python_float_repr(123456789012345678.0) == "1.2345678901234568e+17");
  BOOST_TEST(python_float_repr(-0.0) == "-0.0");
  BOOST_TEST(python_float_repr(5e-324) == "5e-324");
  BOOST_TEST(python_float_repr(1.7976931348623157e308) == "1.7976931348623157e+308");
  BOOST_TEST(python_float_repr(100.0) == "100.0");
  BOOST_TEST(python_float_repr(1234.5) == "1234.5");
  BOOST_TEST(python_float_repr(-3.25) == "-3.25");
}

BOOST_AUTO_TEST_CASE(python_style_matches_json_dumps) {
  // json.dumps({"a": [1, 2.5, "é😀\n\"x\x7f"], "b": None, "c": True, "d": 1e16, "e": 1e-05, "f": 7.0})
  json_value v = json_value::object();
  json_array a{json_value(1), json_value(2.5), json_value("\xc3\xa9\xf0\x9f\x98\x80\n\"x\x7f")};
  v.set("a", json_value(a));
  v.set("b", json_value());
  v.set("c", true);
  v.set("d", 1e16);
  v.set("e", 1e-05);
  v.set("f", 7.0);
  BOOST_TEST(to_json(v, json_style::python) ==
             R"({"a": [1, 2.5, "\u00e9\ud83d\ude00\n\"x\u007f"], "b": null, "c": true, "d": 1e+16, "e": 1e-05, "f": 7.0})");
}

BOOST_AUTO_TEST_CASE(compact_style_keeps_utf8) {
  json_value v = json_value::object();
  v.set("a", json_value(json_array{json_value(1), json_value(2.5), json_value("\xc3\xa9\xf0\x9f\x98\x80\n\"x\x7f")}));
  v.set("b", json_value());
  BOOST_TEST(to_json(v) == "{\"a\":[1,2.5,\"\xc3\xa9\xf0\x9f\x98\x80\\n\\\"x\x7f\"],\"b\":null}");
  BOOST_TEST(to_json(json_value("\x01\t\\")) == R"("\u0001\t\\")");
}

BOOST_AUTO_TEST_CASE(nan_and_infinity_are_rejected) {
  BOOST_CHECK_THROW(to_json(json_value(std::nan(""))), error);
  BOOST_CHECK_THROW(to_json(json_value(json_array{json_value(std::numeric_limits<double>::infinity())})), error);
}

BOOST_AUTO_TEST_CASE(invalid_utf8_is_replaced_not_copied) {
  BOOST_TEST(to_json(json_value(std::string("a\xff" "b"))) == "\"a\xef\xbf\xbd" "b\"");
  BOOST_TEST(to_json(json_value(std::string("a\xff" "b")), json_style::python) == R"("a\ufffdb")");
}

BOOST_AUTO_TEST_CASE(parse_keeps_order_types_and_last_duplicate) {
  const json_value v = parse_json(R"({"z": 1, "a": 1.0, "m": [true, null, "s"], "z": 3, "big": 9223372036854775807})");
  const auto& o = v.as_object();
  BOOST_TEST(o.size() == 4u);
  BOOST_TEST(o[0].first == "z");
  BOOST_TEST(o[0].second.as_int() == 3);
  BOOST_TEST(o[1].first == "a");
  BOOST_TEST(o[1].second.is_double());
  BOOST_TEST(to_json(v) == R"({"z":3,"a":1.0,"m":[true,null,"s"],"big":9223372036854775807})");
}

BOOST_AUTO_TEST_CASE(malformed_json_is_described_like_python) {
  BOOST_TEST(bad_body_message("") == "Expecting value: line 1 column 1 (char 0)");
  BOOST_TEST(bad_body_message("{\"steps\": }") == "Expecting value: line 1 column 11 (char 10)");
  BOOST_TEST(bad_body_message("{\"a\": 1,}") == "Expecting property name enclosed in double quotes: line 1 column 9 (char 8)");
  BOOST_TEST(bad_body_message("{\"a\" 1}") == "Expecting ':' delimiter: line 1 column 6 (char 5)");
  BOOST_TEST(bad_body_message("{\"a\": 1\n \"b\": 2}") == "Expecting ',' delimiter: line 2 column 2 (char 9)");
  BOOST_TEST(bad_body_message("{\"a\": \"x") == "Unterminated string starting at: line 1 column 7 (char 6)");
  BOOST_TEST(bad_body_message("{} x") == "Extra data: line 1 column 4 (char 3)");
  BOOST_TEST(bad_body_message("{\"\xc3\xa9\": ]") == "Expecting value: line 1 column 7 (char 6)");
  // Python would accept NaN; the message still says what is wrong.
  BOOST_TEST(bad_body_message("{\"a\": NaN}").find("invalid JSON") == 0u);
}

BOOST_AUTO_TEST_CASE(python_str_of_values) {
  BOOST_TEST(python_str(json_value(true)) == "True");
  BOOST_TEST(python_str(json_value()) == "None");
  BOOST_TEST(python_str(json_value(0.5)) == "0.5");
  BOOST_TEST(python_str(json_value(json_array{json_value("a"), json_value(1)})) == "['a', 1]");
}
