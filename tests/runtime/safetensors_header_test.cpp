#define BOOST_TEST_MODULE safetensors_header
#include <boost/test/unit_test.hpp>

#include "runtime/base/errors.hpp"
#include "runtime/catalog/safetensors_header.hpp"

#include <cstdint>
#include <string>

using namespace sdw;

namespace {

// The first 8 bytes of a file: the little-endian header length.
std::string length_field(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(n >> (8 * i));
  return s;
}

// Parses `json` as the header of a file with `data_bytes` bytes of data after it.
safetensors_header parse(const std::string& json, uint64_t data_bytes) {
  return parse_safetensors_header(json, 8 + json.size() + data_bytes, "m.safetensors");
}

// The message of the bad_checkpoint error parse throws, naming the file.
std::string fault_of(const std::string& json, uint64_t data_bytes) {
  try {
    parse(json, data_bytes);
  } catch (const error& e) {
    BOOST_TEST((e.code() == errc::bad_checkpoint));
    BOOST_TEST(e.where() == "m.safetensors");
    return e.message();
  }
  BOOST_ERROR("the header should have been refused: " << json);
  return "";
}

} // namespace

BOOST_AUTO_TEST_CASE(a_header_gives_tensors_in_data_order_and_metadata) {
  const std::string json =
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"F16","shape":[2,2],"data_offsets":[16,24]},)"
      R"("a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"e":{"dtype":"I64","shape":[0,3],"data_offsets":[24,24]}})";
  safetensors_header h = parse(json, 24);
  BOOST_TEST(h.data_start == 8 + json.size());
  BOOST_TEST(h.metadata.at("format") == "pt");
  BOOST_TEST_REQUIRE(h.tensors.size() == 3u);
  BOOST_TEST(h.tensors[0].name == "a");
  BOOST_TEST((h.tensors[0].dtype == st_dtype::f32));
  BOOST_TEST(h.tensors[0].end == 16u);
  BOOST_TEST(h.tensors[1].name == "b");
  BOOST_TEST((h.tensors[1].shape == std::vector<int64_t>{2, 2}));
  BOOST_TEST(h.tensors[2].name == "e");
  BOOST_TEST(h.tensors[2].begin == h.tensors[2].end);
}

BOOST_AUTO_TEST_CASE(malformed_headers_are_refused_naming_the_tensor) {
  BOOST_TEST(fault_of("[]", 0).find("not a JSON object") != std::string::npos);
  BOOST_TEST(fault_of("{", 0).find("not valid JSON") != std::string::npos);
  BOOST_TEST(fault_of(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4)
                 .find("tensor 'w': data_offsets [0, 8] run past the end") != std::string::npos);
  BOOST_TEST(fault_of(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8).find("needs 12") !=
             std::string::npos);
  BOOST_TEST(fault_of(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}})", 8).find("not a non-negative") !=
             std::string::npos);
  BOOST_TEST(fault_of(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[2],"data_offsets":[3,5]}})", 8)
                 .find("tensor 'b': data overlaps tensor 'a'") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_length_field_is_checked_against_the_file) {
  BOOST_TEST(safetensors_header_length(length_field(2), 10, "m") == 2u);
  BOOST_CHECK_THROW(safetensors_header_length(length_field(3), 10, "m"), error);
  BOOST_CHECK_THROW(safetensors_header_length(length_field(200ull << 20), 300ull << 20, "m"), error);
  BOOST_CHECK_THROW(safetensors_header_length("abc", 3, "m"), error);
  try {
    safetensors_header_length(std::string("PK\x03\x04", 4) + "xxxx", 100, "m.ckpt");
    BOOST_ERROR("a zip checkpoint should be refused");
  } catch (const error& e) {
    BOOST_TEST(e.message().find("convert it to .safetensors") != std::string::npos);
  }
}
