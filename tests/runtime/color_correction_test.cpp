#define BOOST_TEST_MODULE color_correction
#include <boost/test/unit_test.hpp>

#include "runtime/base/encoding.hpp"
#include "runtime/base/png_codec.hpp"
#include "runtime/engine/txt2img.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/formats/txt2img_request.hpp"
#include "runtime/image/color_correction.hpp"
#include "runtime/image/image_decode.hpp"
#include "runtime/image/lab_color.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_pictures.hpp"
#include "tests/support/tiny_engine.hpp"

#include <fstream>
#include <iterator>
#include <random>

// A1111's img2img color correction (option img2img_color_correction) against the libraries A1111
// runs it with: OpenCV's 8-bit Lab, scikit-image's histogram matching, blendmodes' luminosity blend
// (tests/runtime/color_correction_reference.py, lab_color_reference.py).

namespace {

std::string script(const std::string& name) { return std::string(std::getenv("SDW_SOURCE_DIR")) + "/tests/runtime/" + name; }

std::vector<std::uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void write_png(const std::string& path, const sdw::image8& im) {
  std::ofstream(path, std::ios::binary) << sdw::encode_png(im.pixels.data(), im.width, im.height, {});
}

sdw::image8 read_png(const std::string& path) {
  const auto bytes = read_bytes(path);
  return sdw::decode_image(std::string(bytes.begin(), bytes.end()), path);
}

/// Random colours, a share of them saturated or near black and white, where Lab and the blend's
/// clipping are at their edges.
sdw::image8 random_picture(int w, int h, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> byte(0, 255), pick(0, 3);
  sdw::image8 im(w, h, 3);
  for (auto& v : im.pixels) {
    const int kind = pick(gen);
    v = static_cast<std::uint8_t>(kind == 0 ? 0 : kind == 1 ? 255 : byte(gen));
  }
  return im;
}

std::size_t differing(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b) {
  if (a.size() != b.size()) return std::max(a.size(), b.size());
  std::size_t n = 0;
  for (std::size_t i = 0; i < a.size(); ++i) n += a[i] != b[i];
  return n;
}

} // namespace

// Both 8-bit conversions, byte for byte with cv2.cvtColor.
BOOST_AUTO_TEST_CASE(lab_conversions_are_opencvs) {
  sdw::test::temp_dir dir;
  const sdw::image8 im = random_picture(97, 61, 3);
  std::ofstream(dir.file("in.rgb"), std::ios::binary)
    .write(reinterpret_cast<const char*>(im.pixels.data()), static_cast<std::streamsize>(im.pixels.size()));
  auto [rc, log] = sdw::test::run_command(sdw::test::python() + " '" + script("lab_color_reference.py") + "' " +
                                          dir.file("in.rgb") + " " + dir.file("lab.bin") + " " + dir.file("rgb.bin") +
                                          " 97 61");
  BOOST_REQUIRE_MESSAGE(rc == 0, "lab_color_reference.py failed:\n" << log);
  BOOST_TEST(differing(sdw::rgb_to_lab(im).pixels, read_bytes(dir.file("lab.bin"))) == 0u);
  BOOST_TEST(differing(sdw::lab_to_rgb(im).pixels, read_bytes(dir.file("rgb.bin"))) == 0u);
}

// apply_color_correction on pictures of the same and of another size than the init image, byte for
// byte with A1111's function; and it does change the picture.
BOOST_AUTO_TEST_CASE(the_correction_is_a1111s) {
  sdw::test::temp_dir dir;
  struct example {
    int init_w, init_h;
    bool smooth_init;
  };
  for (const example& c : {example{64, 64, true}, example{40, 56, false}, example{72, 48, true}}) {
    BOOST_TEST_CONTEXT("init " << c.init_w << "x" << c.init_h) {
      const std::string init_png = dir.file("init.png");
      if (c.smooth_init) {
        sdw::test::write_init_png(init_png, c.init_w, c.init_h, 11);
      } else {
        write_png(init_png, random_picture(c.init_w, c.init_h, 5));
      }
      const sdw::image8 init = read_png(init_png);
      const sdw::image8 generated = random_picture(64, 64, 9);
      write_png(dir.file("generated.png"), generated);
      auto [rc, log] = sdw::test::run_command(sdw::test::python() + " '" + script("color_correction_reference.py") +
                                              "' " + init_png + " " + dir.file("generated.png") + " " +
                                              dir.file("want.png"));
      BOOST_REQUIRE_MESSAGE(rc == 0, "color_correction_reference.py failed:\n" << log);
      const sdw::image8 ours = sdw::apply_color_correction(sdw::rgb_to_lab(init), generated);
      BOOST_TEST(differing(ours.pixels, read_png(dir.file("want.png")).pixels) == 0u);
      BOOST_TEST(differing(ours.pixels, generated.pixels) > generated.pixels.size() / 4);
    }
  }
}

// A whole img2img job with the option: each image of the batch takes the colours of its own init
// image, as A1111's function makes them of the uncorrected result.
BOOST_AUTO_TEST_CASE(each_result_takes_its_init_images_colours) {
  auto& e = sdw::test::shared_tiny_engine();
  const std::string a = sdw::test::write_init_png(e.dir.file("cc-a.png"), 64, 64, 21);
  const std::string b = sdw::test::write_init_png(e.dir.file("cc-b.png"), 64, 64, 22);
  const std::string body = R"({"init_images": [")" + a + R"(", ")" + b + R"("], "prompt": "a boat", "seed": 4,
    "steps": 3, "width": 64, "height": 64, "denoising_strength": 0.6, "batch_size": 2})";
  const auto req = sdw::txt2img_request_from_json(sdw::parse_json(body), sdw::request_kind::img2img);
  sdw::options corrected;
  corrected.img2img_color_correction = true;
  const auto plain = sdw::run_txt2img(*e.model, e.tokenizer, req, sdw::options{});
  const auto ours = sdw::run_txt2img(*e.model, e.tokenizer, req, corrected);
  BOOST_REQUIRE_EQUAL(ours.images.size(), 2u);
  const char* inits[] = {"cc-a.png", "cc-b.png"};
  for (std::size_t i = 0; i < 2; ++i) {
    BOOST_TEST_CONTEXT("image " << i) {
      sdw::image8 generated(plain.images[i].width, plain.images[i].height, 3);
      generated.pixels = plain.images[i].pixels;
      write_png(e.dir.file("cc-generated.png"), generated);
      auto [rc, log] = sdw::test::run_command(sdw::test::python() + " '" + script("color_correction_reference.py") +
                                              "' " + e.dir.file(inits[i]) + " " + e.dir.file("cc-generated.png") + " " +
                                              e.dir.file("cc-want.png"));
      BOOST_REQUIRE_MESSAGE(rc == 0, "color_correction_reference.py failed:\n" << log);
      BOOST_TEST(differing(ours.images[i].pixels, read_png(e.dir.file("cc-want.png")).pixels) == 0u);
      BOOST_TEST(differing(ours.images[i].pixels, plain.images[i].pixels) > 0u);
      // A1111 does not note the correction in the infotext.
      BOOST_TEST(ours.images[i].infotext == plain.images[i].infotext);
    }
  }
}

// With a mask the correction comes before the overlay: the original outside the mask, inside it the
// result corrected towards the init image (here the init image itself: inpainting_fill 1).
BOOST_AUTO_TEST_CASE(inpainting_corrects_before_the_overlay) {
  auto& e = sdw::test::shared_tiny_engine();
  const std::string init_png = e.dir.file("cc-inpaint.png");
  const std::string init = sdw::test::write_init_png(init_png, 64, 64, 23);
  sdw::image8 mask(64, 64, 3);
  const auto inside = [](int x, int y) { return x >= 16 && x < 48 && y >= 12 && y < 40; };
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 64; ++x)
      if (inside(x, y)) std::fill_n(mask.row(y) + x * 3, 3, std::uint8_t{255});
  const std::string mask_b64 = sdw::base64_encode(sdw::encode_png(mask.pixels.data(), 64, 64, {}));
  const std::string body = R"({"init_images": [")" + init + R"("], "mask": ")" + mask_b64 + R"(", "prompt": "a boat",
    "seed": 8, "steps": 3, "width": 64, "height": 64, "denoising_strength": 0.7, "mask_blur": 0,
    "inpainting_fill": 1, "inpaint_full_res": false})";
  const auto req = sdw::txt2img_request_from_json(sdw::parse_json(body), sdw::request_kind::img2img);
  sdw::options raw_opts, corrected;
  raw_opts.overlay_inpaint = false;
  corrected.img2img_color_correction = true;
  const auto raw = sdw::run_txt2img(*e.model, e.tokenizer, req, raw_opts);
  const auto ours = sdw::run_txt2img(*e.model, e.tokenizer, req, corrected);
  sdw::image8 generated(64, 64, 3);
  generated.pixels = raw.images.at(0).pixels;
  write_png(e.dir.file("cc-inpaint-raw.png"), generated);
  auto [rc, log] = sdw::test::run_command(sdw::test::python() + " '" + script("color_correction_reference.py") + "' " +
                                          init_png + " " + e.dir.file("cc-inpaint-raw.png") + " " +
                                          e.dir.file("cc-inpaint-want.png"));
  BOOST_REQUIRE_MESSAGE(rc == 0, "color_correction_reference.py failed:\n" << log);
  const sdw::image8 want = read_png(e.dir.file("cc-inpaint-want.png"));
  const sdw::image8 original = read_png(init_png);
  std::size_t wrong_inside = 0, wrong_outside = 0;
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 64; ++x)
      for (int k = 0; k < 3; ++k) {
        const std::size_t i = (static_cast<std::size_t>(y) * 64 + x) * 3 + k;
        if (inside(x, y)) {
          wrong_inside += ours.images.at(0).pixels[i] != want.pixels[i];
        } else {
          wrong_outside += ours.images.at(0).pixels[i] != original.pixels[i];
        }
      }
  BOOST_TEST(wrong_inside == 0u);
  BOOST_TEST(wrong_outside == 0u);
  BOOST_TEST(differing(ours.images.at(0).pixels, generated.pixels) > 0u);
}
