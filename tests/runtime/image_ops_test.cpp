#define BOOST_TEST_MODULE image_ops
#include <boost/test/unit_test.hpp>

#include "runtime/base/encoding.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/base/png_codec.hpp"
#include "runtime/image/image_decode.hpp"
#include "runtime/image/resample.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/temp_dir.hpp"

#include <fstream>
#include <iterator>
#include <sstream>

namespace {

using sdw::test::slurp;

struct reference {
  sdw::test::temp_dir dir;
  std::vector<std::vector<std::string>> rows;
  reference() {
    const std::string script = std::string(std::getenv("SDW_SOURCE_DIR")) + "/tests/runtime/pil_reference.py";
    auto [rc, out] = sdw::test::run_command(sdw::test::python() + " '" + script + "' " + dir.path);
    BOOST_REQUIRE_MESSAGE(rc == 0, "pil_reference.py failed:\n" << out);
    std::istringstream lines(slurp(dir.file("manifest.txt")));
    for (std::string line; std::getline(lines, line);) {
      std::istringstream fields(line);
      std::vector<std::string> row{std::istream_iterator<std::string>(fields), {}};
      if (row.size() == 7) rows.push_back(row);
    }
  }
};

reference& ref() {
  static reference r;
  return r;
}

/// The largest difference between two images of equal shape, or 256 when the shapes differ.
int max_diff(const sdw::image8& a, const sdw::image8& b) {
  if (a.width != b.width || a.height != b.height || a.channels != b.channels) return 256;
  int m = 0;
  for (std::size_t i = 0; i < a.pixels.size(); ++i) m = std::max(m, std::abs(a.pixels[i] - b.pixels[i]));
  return m;
}

} // namespace

// Every case as PIL computes it: decoding (EXIF orientation, palette transparency), flattening onto
// the background colour, and A1111's three resize modes at up- and downscaling aspect ratios.
BOOST_AUTO_TEST_CASE(decoding_flattening_and_resizing_equal_pil_pixel_for_pixel) {
  BOOST_REQUIRE_GE(ref().rows.size(), 100u);
  for (const auto& r : ref().rows) {
    BOOST_TEST_CONTEXT("case " << r[0]) {
      const sdw::image8 opened = sdw::decode_image(slurp(ref().dir.file(r[1])), "init_images");
      sdw::image8 got;
      if (r[2] == "flatten") {
        got = sdw::flatten(opened, sdw::parse_color(r[3], "img2img_background_color"));
      } else if (r[2] == "nearest" || r[2].rfind("upscale", 0) == 0) {
        const auto x = r[3].find('x');
        const int w = std::stoi(r[3].substr(0, x)), h = std::stoi(r[3].substr(x + 1));
        const sdw::image8 flat = sdw::flatten(opened, {255, 255, 255});
        got = r[2] == "nearest" ? sdw::pil_resize(flat, w, h, sdw::resample_filter::nearest)
                                : sdw::a1111_upscale_image(flat, w, h, r[2].substr(7));
      } else {
        const int mode = r[2].back() - '0';
        const auto x = r[3].find('x');
        const int w = std::stoi(r[3].substr(0, x)), h = std::stoi(r[3].substr(x + 1));
        const sdw::image8 input = opened.channels == 1 && r[0].find(".mask") != std::string::npos
                                      ? opened
                                      : sdw::flatten(opened, {255, 255, 255});
        got = sdw::a1111_resize_image(mode, input, w, h);
      }
      sdw::image8 want(std::stoi(r[4]), std::stoi(r[5]), std::stoi(r[6]));
      const std::string raw = slurp(ref().dir.file(r[0] + ".raw"));
      BOOST_REQUIRE_EQUAL(raw.size(), want.pixels.size());
      std::copy(raw.begin(), raw.end(), want.pixels.begin());
      BOOST_TEST(max_diff(got, want) == 0);
    }
  }
}

BOOST_AUTO_TEST_CASE(base64_images_with_and_without_a_data_url_prefix) {
  const std::vector<std::uint8_t> rgb = {255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9};
  const std::string png = sdw::encode_png(rgb.data(), 2, 2, {});
  for (const std::string& text : {sdw::base64_encode(png), "data:image/png;base64," + sdw::base64_encode(png)}) {
    const sdw::image8 im = sdw::decode_base64_image(text, "init_images.0");
    BOOST_TEST(im.width == 2);
    BOOST_TEST(im.channels == 3);
    BOOST_TEST(im.pixels == rgb);
  }
}

BOOST_AUTO_TEST_CASE(bad_images_name_the_field) {
  const auto refused = [](const std::string& text, const std::string& words) {
    try {
      sdw::decode_base64_image(text, "init_images.1");
      BOOST_ERROR("accepted: " << text.substr(0, 40));
    } catch (const sdw::error& e) {
      BOOST_TEST(e.code() == sdw::errc::bad_request);
      BOOST_TEST(e.where() == "init_images.1");
      BOOST_TEST(std::string(e.what()).find(words) != std::string::npos, e.what());
    }
  };
  refused("not base64 at all!", "base64");
  refused(sdw::base64_encode("GIF89a...."), "not a PNG, JPEG or WebP");
  refused("https://example.com/a.png", "URLs are not fetched");
  const std::vector<std::uint8_t> rgb(64 * 64 * 3, 7);
  const std::string png = sdw::encode_png(rgb.data(), 64, 64, {});
  refused(sdw::base64_encode(png.substr(0, png.size() / 2)), "invalid PNG");
  refused(sdw::base64_encode(std::string("\xff\xd8\xff\xe0\0\x10JFIF", 10)), "invalid JPEG");
  refused(sdw::base64_encode(std::string("RIFF\x10\0\0\0WEBPVP8 ", 16)), "invalid WebP");
}
