#define BOOST_TEST_MODULE result_images
#include <boost/test/unit_test.hpp>

#include "runtime/base/encoding.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/base/png_codec.hpp"
#include "runtime/runpod/result_images.hpp"
#include "runtime/runpod/runpod_worker.hpp"

#include <cstdint>
#include <vector>

using namespace sdw;

namespace {

std::string png(int width, int height) {
  const std::vector<std::uint8_t> rgb(static_cast<size_t>(width * height * 3), 90);
  return encode_png(rgb.data(), width, height, {{"parameters", "a boat"}});
}

/// A job-done body as the poller makes it from an A1111 txt2img answer.
std::string done_body(const std::vector<std::string>& images) {
  std::string list;
  for (const auto& i : images) {
    list += (list.empty() ? "\"" : ",\"") + base64_encode(i) + "\"";
  }
  return done_output_body("{\"images\":[" + list + "],\"parameters\":{\"prompt\":\"a boat\",\"cfg_scale\":7.0},"
                          "\"info\":\"{\\\"seed\\\": 2}\"}");
}

} // namespace

BOOST_AUTO_TEST_CASE(the_images_of_a_result_are_read_in_order) {
  const std::string a = png(8, 4);
  const std::string b = png(3, 5);
  const auto bytes = result_image_bytes(done_body({a, b}));
  BOOST_TEST_REQUIRE(bytes.size() == 2u);
  BOOST_TEST((bytes[0] == a));
  BOOST_TEST(decode_png(bytes[1]).width == 3);
  BOOST_TEST(result_image_bytes("{\"error\":\"boom\"}").empty());
  BOOST_TEST(result_image_bytes(done_output_body("{\"image\":\"abc\"}")).empty());
}

BOOST_AUTO_TEST_CASE(an_item_that_is_no_base64_string_is_named) {
  try {
    result_image_bytes(done_output_body("{\"images\":[\"" + base64_encode(png(1, 1)) + "\",7]}"));
    BOOST_FAIL("no error");
  } catch (const error& e) {
    BOOST_TEST(e.where() == "output.images[1]");
  }
  try {
    result_image_bytes(done_output_body("{\"images\":[\"***\"]}"));
    BOOST_FAIL("no error");
  } catch (const error& e) {
    BOOST_TEST(e.where() == "output.images[0]");
  }
}

BOOST_AUTO_TEST_CASE(urls_take_the_images_places_and_the_rest_stays) {
  const std::string body = done_body({png(2, 2), png(2, 2)});
  const std::string replaced = with_image_urls(body, {"https://s/b/j/1.png?X-Amz-Signature=a", "https://s/b/j/2.png"});
  BOOST_TEST(replaced ==
             "{\"output\":{\"images\":[\"https://s/b/j/1.png?X-Amz-Signature=a\",\"https://s/b/j/2.png\"],"
             "\"parameters\":{\"prompt\":\"a boat\",\"cfg_scale\":7.0},\"info\":\"{\\\"seed\\\": 2}\"}}");
  BOOST_CHECK_THROW(with_image_urls(body, {"only-one"}), error);
}

BOOST_AUTO_TEST_CASE(uploads_are_named_as_runpods_helper_names_them) {
  BOOST_TEST(image_type_of(png(1, 1)).extension == ".png");
  BOOST_TEST(image_type_of(png(1, 1)).content_type == "image/png");
  BOOST_TEST(image_type_of("\xff\xd8\xff\xe0 jfif").content_type == "image/jpeg");
  BOOST_TEST(image_type_of(std::string("RIFF\x10\0\0\0WEBPVP8 ", 16)).extension == ".webp");
  BOOST_TEST(image_type_of("plain").content_type == "application/octet-stream");
  const std::string key = result_object_key("sync-42", ".png");
  BOOST_TEST(key.size() == std::string("sync-42/").size() + 8 + 4);
  BOOST_TEST(key.rfind("sync-42/", 0) == 0u);
  BOOST_TEST(key.substr(8, 8).find_first_not_of("0123456789abcdef") == std::string::npos);
  BOOST_TEST(key.substr(16) == ".png");
  BOOST_TEST(result_object_key("sync-42", ".png") != key);
}
