// Request image bytes → decode_image_with_text (PNG, JPEG with EXIF orientation, WebP), and the same
// bytes as the API's base64 text. Bad data may only be refused with sdw::error(bad_request); a
// decoded image is within the size limits and has the pixels its size says.
#include "fuzz/fuzz_check.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/image/image_decode.hpp"

using namespace sdw;

namespace {

void check_image(const image8& image) {
  SDW_FUZZ_CHECK(image.width > 0 && image.height > 0 && image.width <= 16384 && image.height <= 16384);
  SDW_FUZZ_CHECK(static_cast<long long>(image.width) * image.height <= max_image_pixels);
  SDW_FUZZ_CHECK(image.channels >= 1 && image.channels <= 4);
  SDW_FUZZ_CHECK(image.pixels.size() == std::size_t(image.width) * image.height * image.channels);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes = fuzz::text_of(data, size);
  try {
    check_image(decode_image_with_text(bytes, "image").image);
  } catch (const error& e) {
    SDW_FUZZ_CHECK(e.code() == errc::bad_request);
    SDW_FUZZ_CHECK(e.where() == "image");
  }
  try {
    check_image(decode_base64_image(bytes, "init_images"));
  } catch (const error& e) {
    SDW_FUZZ_CHECK(e.code() == errc::bad_request);
  }
  return 0;
}
