#define BOOST_TEST_MODULE encoding
#include <boost/test/unit_test.hpp>

#include "runtime/base/encoding.hpp"
#include "runtime/base/errors.hpp"

#include <cstdio>
#include <fstream>
#include <string>
#include <unistd.h>

using namespace sdw;

namespace {

std::string decode_error(const std::string& text) {
  try {
    base64_decode(text, "init_images.0");
  } catch (const error& e) {
    BOOST_TEST(e.where() == "init_images.0");
    BOOST_TEST(static_cast<int>(e.code()) == static_cast<int>(errc::bad_request));
    return e.message();
  }
  BOOST_FAIL("no error for " + text);
  return {};
}

} // namespace

BOOST_AUTO_TEST_CASE(base64_known_value_and_round_trip) {
  const std::string bytes("\x00\xffhello world!?", 15);
  BOOST_TEST(base64_encode(bytes) == "AP9oZWxsbyB3b3JsZCE/");
  BOOST_TEST(base64_decode("AP9oZWxsbyB3b3JsZCE/") == bytes);
  for (std::size_t n = 0; n < 8; ++n) {
    const std::string s = bytes.substr(0, n);
    BOOST_TEST(base64_decode(base64_encode(s)) == s);
  }
  BOOST_TEST(base64_encode("ab") == "YWI=");
  BOOST_TEST(base64_encode("") == "");
}

BOOST_AUTO_TEST_CASE(base64_accepts_data_url_whitespace_and_missing_padding) {
  BOOST_TEST(base64_decode("data:image/png;base64,YWJj") == "abc");
  BOOST_TEST(base64_decode("YW\nJj\r\n") == "abc");
  BOOST_TEST(base64_decode("YWI") == "ab");
  BOOST_TEST(base64_decode("YQ") == "a");
  BOOST_TEST(base64_decode("YQ==") == "a");
}

BOOST_AUTO_TEST_CASE(base64_invalid_input_is_reported) {
  BOOST_TEST(decode_error("YW*j").find("unexpected character at offset 2") != std::string::npos);
  BOOST_TEST(decode_error("YWJjZ").find("truncated") != std::string::npos);
  BOOST_TEST(decode_error("YQ=a").find("after '=' padding") != std::string::npos);
  BOOST_TEST(decode_error("YWJj=").find("padding") != std::string::npos);
  BOOST_TEST(decode_error("data:image/png,YWJj").find("base64") != std::string::npos);
  BOOST_TEST(decode_error("data:image/png;base64").find("no ','") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(sha256_of_known_strings) {
  BOOST_TEST(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  BOOST_TEST(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

BOOST_AUTO_TEST_CASE(sha256_of_a_file_across_block_boundaries) {
  // 1,049,600 bytes: more than one 1 MiB block. Reference from Python's hashlib.
  std::string data;
  for (int r = 0; r < 4100; ++r)
    for (int b = 0; b < 256; ++b) data += static_cast<char>(b);
  const std::string path = "/tmp/sdw_encoding_test_" + std::to_string(::getpid()) + ".bin";
  {
    std::ofstream f(path, std::ios::binary);
    f << data;
  }
  BOOST_TEST(sha256_file_hex(path) == "5458c23abbce8d80a1b5b46d0555aa348c762d344e86b9f833d54ce982f3832f");
  BOOST_TEST(sha256_file_hex(path) == sha256_hex(data));
  std::remove(path.c_str());
}

BOOST_AUTO_TEST_CASE(sha256_of_a_missing_file_names_it) {
  try {
    sha256_file_hex("/nonexistent/model.safetensors");
    BOOST_FAIL("no error");
  } catch (const error& e) {
    BOOST_TEST(e.where() == "/nonexistent/model.safetensors");
    BOOST_TEST(static_cast<int>(e.code()) == static_cast<int>(errc::not_found));
  }
}
