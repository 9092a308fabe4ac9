#define BOOST_TEST_MODULE png_codec
#include <boost/test/unit_test.hpp>

#include "runtime/base/errors.hpp"
#include "runtime/base/png_codec.hpp"

#include <cstdint>
#include <zlib.h>
#include <string>
#include <vector>

using namespace sdw;

namespace {

std::vector<std::uint8_t> test_image(int w, int h) {
  std::vector<std::uint8_t> rgb(static_cast<std::size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      auto* p = &rgb[(static_cast<std::size_t>(y) * w + x) * 3];
      p[0] = static_cast<std::uint8_t>(x * 7 + y);
      p[1] = static_cast<std::uint8_t>(y * 13);
      p[2] = static_cast<std::uint8_t>((x ^ y) * 3);
    }
  return rgb;
}

// The raw bytes of the first chunk of a type, or "" when there is none.
std::string chunk_data(const std::string& png, const std::string& type) {
  std::size_t pos = 8;
  while (pos + 8 <= png.size()) {
    const auto len = (std::uint32_t(std::uint8_t(png[pos])) << 24) | (std::uint32_t(std::uint8_t(png[pos + 1])) << 16) |
                     (std::uint32_t(std::uint8_t(png[pos + 2])) << 8) | std::uint32_t(std::uint8_t(png[pos + 3]));
    if (png.compare(pos + 4, 4, type) == 0) return png.substr(pos + 8, len);
    pos += 12 + len;
  }
  return {};
}


// Hand-made PNG files of the kinds the encoder never writes (gray, palette, 16-bit, zTXt).
void put_u32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xFF);
}

std::string chunk(const std::string& type, const std::string& data) {
  std::string out;
  put_u32(out, static_cast<std::uint32_t>(data.size()));
  const std::string body = type + data;
  out += body;
  put_u32(out, static_cast<std::uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()))));
  return out;
}

std::string deflate_bytes(const std::string& raw) {
  uLongf len = compressBound(static_cast<uLong>(raw.size()));
  std::string out(len, '\0');
  compress(reinterpret_cast<Bytef*>(out.data()), &len, reinterpret_cast<const Bytef*>(raw.data()), static_cast<uLong>(raw.size()));
  out.resize(len);
  return out;
}

std::string hand_png(int w, int h, int depth, int color, const std::string& scanlines, const std::string& before_idat = "",
                     const std::string& after_idat = "") {
  std::string ihdr;
  put_u32(ihdr, static_cast<std::uint32_t>(w));
  put_u32(ihdr, static_cast<std::uint32_t>(h));
  ihdr += static_cast<char>(depth);
  ihdr += static_cast<char>(color);
  ihdr += std::string(3, '\0');
  return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", ihdr) + before_idat + chunk("IDAT", deflate_bytes(scanlines)) +
         after_idat + chunk("IEND", "");
}

std::vector<std::uint8_t> bytes(std::initializer_list<int> v) {
  std::vector<std::uint8_t> out;
  for (int b : v) out.push_back(static_cast<std::uint8_t>(b));
  return out;
}

std::string decode_error(const std::string& bytes) {
  try {
    decode_png(bytes, "init_images.0");
  } catch (const error& e) {
    BOOST_TEST(e.where() == "init_images.0");
    BOOST_TEST(static_cast<int>(e.code()) == static_cast<int>(errc::bad_request));
    return e.message();
  }
  BOOST_FAIL("corrupt PNG decoded without error");
  return {};
}

const std::string latin1_text = "a caf\xc3\xa9\nSteps: 20, Sampler: Euler";  // UTF-8 "a café…"
const std::string cjk_text = "\xe7\x8c\xab cat";                                // "猫 cat"

} // namespace

BOOST_AUTO_TEST_CASE(round_trip_pixels_and_text) {
  const int w = 37, h = 23;
  const auto rgb = test_image(w, h);
  const std::string png = encode_png(rgb.data(), w, h, {{"parameters", latin1_text}, {"comment", cjk_text}});
  BOOST_TEST(png.substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));

  const decoded_png d = decode_png(png);
  BOOST_TEST(d.width == w);
  BOOST_TEST(d.height == h);
  BOOST_TEST(d.channels == 3);
  BOOST_TEST(d.pixels == rgb, boost::test_tools::per_element());
  BOOST_TEST(d.text.size() == 2u);
  BOOST_TEST(d.text.at("parameters") == latin1_text);
  BOOST_TEST(d.text.at("comment") == cjk_text);
}

BOOST_AUTO_TEST_CASE(latin1_text_is_tEXt_and_other_text_is_iTXt) {
  const auto rgb = test_image(8, 8);
  const std::string png = encode_png(rgb.data(), 8, 8, {{"parameters", latin1_text}, {"comment", cjk_text}});
  // tEXt holds "parameters\0" and the text in Latin-1 (é is the single byte 0xE9).
  BOOST_TEST(chunk_data(png, "tEXt") == std::string("parameters", 11) + "a caf\xe9\nSteps: 20, Sampler: Euler");
  // iTXt: key, NUL, compression flag 0, method 0, empty language, NUL, empty translated key, NUL, UTF-8.
  BOOST_TEST(chunk_data(png, "iTXt") == std::string("comment\0\0\0\0\0", 12) + cjk_text);
  // Text chunks come before the image data, as PIL writes them.
  BOOST_TEST(png.find("tEXt") < png.find("IDAT"));
}

BOOST_AUTO_TEST_CASE(encode_rejects_bad_arguments) {
  const auto rgb = test_image(4, 4);
  BOOST_CHECK_THROW(encode_png(rgb.data(), 0, 4, {}), error);
  BOOST_CHECK_THROW(encode_png(rgb.data(), 4, 4, {{"", "x"}}), error);
  BOOST_CHECK_THROW(encode_png(rgb.data(), 4, 4, {{"\xe7\x8c\xab", "x"}}), error);
}

BOOST_AUTO_TEST_CASE(corrupt_data_is_an_error_not_a_crash) {
  const auto rgb = test_image(64, 64);
  const std::string png = encode_png(rgb.data(), 64, 64, {{"parameters", "x"}});
  BOOST_TEST(decode_error("").find("bad signature") != std::string::npos);
  BOOST_TEST(decode_error("GIF89a....").find("bad signature") != std::string::npos);
  // Truncated at every tenth byte: an error each time, never a crash.
  for (std::size_t n = 8; n < png.size(); n += 10) {
    BOOST_TEST(decode_error(png.substr(0, n)).find("invalid PNG") == 0u);
  }
  // A flipped bit inside the image data fails its checksum.
  std::string damaged = png;
  const auto idat = damaged.find("IDAT");
  damaged[idat + 20] = static_cast<char>(damaged[idat + 20] ^ 0x10);
  BOOST_TEST(decode_error(damaged).find("invalid PNG") == 0u);
  // A header claiming an absurd size.
  std::string huge = png;
  huge[16] = 0x7f;
  BOOST_TEST(decode_error(huge).find("invalid PNG") == 0u);
}

BOOST_AUTO_TEST_CASE(other_pixel_formats_decode_to_8_bit) {
  // Gray, 8 bits: one channel as stored.
  auto d = decode_png(hand_png(3, 2, 8, 0, std::string("\0\x0a\x14\x1e\0\x28\x32\x3c", 8)));
  BOOST_TEST(d.channels == 1);
  BOOST_TEST(d.pixels == bytes({10, 20, 30, 40, 50, 60}), boost::test_tools::per_element());
  // Gray, 1 bit: expanded to 0/255.
  d = decode_png(hand_png(8, 1, 1, 0, std::string("\0\xa0", 2)));
  BOOST_TEST(d.pixels == bytes({255, 0, 255, 0, 0, 0, 0, 0}), boost::test_tools::per_element());
  // Palette with transparency: RGBA.
  const std::string plte = chunk("PLTE", std::string("\xff\0\0\0\0\xff", 6)) + chunk("tRNS", "\x80");
  d = decode_png(hand_png(2, 1, 8, 3, std::string("\0\0\x01", 3), plte));
  BOOST_TEST(d.channels == 4);
  BOOST_TEST(d.pixels == bytes({255, 0, 0, 128, 0, 0, 255, 255}), boost::test_tools::per_element());
  // RGB, 16 bits: the high byte of each sample.
  d = decode_png(hand_png(1, 1, 16, 2, std::string("\0\x12\x34\x56\x78\x9a\xbc", 7)));
  BOOST_TEST(d.channels == 3);
  BOOST_TEST(d.pixels == bytes({0x12, 0x56, 0x9a}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(ztxt_and_text_after_the_image_data_are_read) {
  const std::string ztxt = chunk("zTXt", std::string("parameters\0\0", 12) + deflate_bytes("Steps: 20, caf\xe9"));
  const std::string text = chunk("tEXt", std::string("Software\0sdw", 12));
  const auto d = decode_png(hand_png(1, 1, 8, 0, std::string("\0\x07", 2), text, ztxt));
  BOOST_TEST(d.text.at("parameters") == "Steps: 20, caf\xc3\xa9");
  BOOST_TEST(d.text.at("Software") == "sdw");
}

BOOST_AUTO_TEST_CASE(a_chunk_longer_than_the_file_is_refused_before_it_is_read) {
  // A few bytes that declare a 2 GB zTXt chunk (found by fuzzing): libpng would allocate the
  // declared length before it found the data missing.
  std::string png = hand_png(1, 1, 8, 0, std::string("\0\x07", 2));
  std::string claim;
  put_u32(claim, 0x7bffffffu);
  png.insert(png.find("IDAT") - 4, claim + "zTXtSoftware");
  const std::string fault = decode_error(png);
  BOOST_TEST(fault.find("invalid PNG: chunk 'zTXt' claims 2080374783 bytes") == 0u);
  BOOST_TEST(fault.find("truncated") != std::string::npos);
  // Bytes after IEND are not chunks: still a good image.
  BOOST_TEST(decode_png(hand_png(1, 1, 8, 0, std::string("\0\x07", 2)) + claim + "junk").width == 1);
}

BOOST_AUTO_TEST_CASE(the_size_check_sees_the_header_before_pixels_are_allocated) {
  // A few bytes declaring a 16384x16384 RGBA image (1 GiB of pixels): the caller's check refuses it
  // from the header; without a check the missing data is found only after the allocation.
  const std::string png = hand_png(16384, 16384, 8, 6, std::string("\0\0\0\0\0", 5));
  std::pair<int, int> seen;
  try {
    decode_png(png, "init_images.0", [&](int w, int h) {
      seen = {w, h};
      throw error(errc::bad_request, "init_images.0", "image too large");
    });
    BOOST_ERROR("a 16384x16384 image was decoded");
  } catch (const error& e) {
    BOOST_TEST(std::string(e.what()).find("image too large") != std::string::npos, e.what());
  }
  BOOST_TEST(seen.first == 16384);
  BOOST_TEST(seen.second == 16384);
  // A size the check accepts decodes as before.
  const auto rgb = test_image(3, 2);
  bool checked = false;
  const decoded_png ok = decode_png(encode_png(rgb.data(), 3, 2, {}), "image", [&](int w, int h) { checked = w == 3 && h == 2; });
  BOOST_TEST(checked);
  BOOST_TEST(ok.pixels == rgb);
}

BOOST_AUTO_TEST_CASE(every_single_byte_corruption_decodes_or_errors) {
  const auto rgb = test_image(16, 16);
  const std::string png = encode_png(rgb.data(), 16, 16, {{"parameters", "a cat"}, {"comment", cjk_text}});
  int errors = 0;
  for (std::size_t i = 0; i < png.size(); ++i) {
    std::string bad = png;
    bad[i] = static_cast<char>(bad[i] ^ 0x5A);
    try {
      const auto d = decode_png(bad);
      BOOST_TEST(d.pixels.size() == static_cast<std::size_t>(d.width) * d.height * d.channels);
    } catch (const error& e) {
      ++errors;
      BOOST_TEST(e.where() == "image");
    }
  }
  // Critical chunks are checksummed, so nearly every corruption is caught.
  BOOST_TEST(errors > static_cast<int>(png.size()) / 2);
}
