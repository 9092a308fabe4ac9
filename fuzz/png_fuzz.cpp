// PNG bytes → decode_png (libpng, PIL's reading of palettes, tRNS and 16-bit samples, text chunks).
// Bad data may only be refused with sdw::error(bad_request); a decoded image has the pixels its
// size says, and an RGB or RGBA image with its text encodes and decodes back unchanged.
#include "fuzz/fuzz_check.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/base/png_codec.hpp"

using namespace sdw;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  decoded_png png;
  try {
    png = decode_png(fuzz::text_of(data, size));
  } catch (const error& e) {
    SDW_FUZZ_CHECK(e.code() == errc::bad_request);
    return 0;
  }
  SDW_FUZZ_CHECK(png.width > 0 && png.height > 0 && png.channels >= 1 && png.channels <= 4);
  SDW_FUZZ_CHECK(png.pixels.size() == std::size_t(png.width) * png.height * png.channels);
  if (png.channels < 3 || png.pixels.size() > (1u << 20)) return 0;
  std::vector<std::pair<std::string, std::string>> text(png.text.begin(), png.text.end());
  std::string again;
  try {
    again = encode_png(png.pixels.data(), png.width, png.height, text, png.channels);
  } catch (const error&) {
    // A key the encoder refuses (PNG keys are 1..79 Latin-1 characters): the pixels alone.
    again = encode_png(png.pixels.data(), png.width, png.height, {}, png.channels);
    text.clear();
  }
  const decoded_png back = decode_png(again);
  SDW_FUZZ_CHECK(back.width == png.width && back.height == png.height && back.channels == png.channels);
  SDW_FUZZ_CHECK(back.pixels == png.pixels);
  if (!text.empty()) SDW_FUZZ_CHECK(back.text == png.text);
  return 0;
}
