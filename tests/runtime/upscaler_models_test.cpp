#define BOOST_TEST_MODULE upscaler_models
#include <boost/test/unit_test.hpp>

#include "runtime/base/errors.hpp"
#include "runtime/engine/upscaler_library.hpp"
#include "runtime/engine/upscaler_models.hpp"
#include "runtime/image/resample.hpp"
#include "tests/runtime/python_reference.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

namespace {

namespace fs = std::filesystem;
using sdw::image8;

/// The reference's model files and pixels, written once for every case.
struct reference {
  sdw::test::temp_dir dir{"upscalers"};
  image8 input;
  reference() {
    sdw::test::run_python("upscaler_reference.py", "'" + dir.path + "' pth");
    input = read_rgb(dir.path + "/in.raw", 43, 29);
  }
  static image8 read_rgb(const std::string& path, int w, int h) {
    std::ifstream f(path, std::ios::binary);
    std::string bytes{std::istreambuf_iterator<char>(f), {}};
    BOOST_TEST_REQUIRE(bytes.size() == static_cast<std::size_t>(w) * h * 3, path);
    image8 im(w, h, 3);
    std::copy(bytes.begin(), bytes.end(), im.pixels.begin());
    return im;
  }
  sdw::upscaler_folders folders() const { return {dir.path + "/ESRGAN", dir.path + "/RealESRGAN"}; }
};

reference& ref() {
  static reference r;
  return r;
}

struct reference_case {
  std::string name, upscaler;
  int tile = 0, overlap = 0;
  double scale = 0;
  int width = 0, height = 0;
};

std::vector<reference_case> cases() {
  std::vector<reference_case> out;
  std::ifstream man(ref().dir.path + "/manifest.txt");
  std::string line;
  while (std::getline(man, line)) {
    std::istringstream fields(line);
    reference_case c;
    std::string tile, overlap, scale, w, h;
    std::getline(fields, c.name, '\t');
    std::getline(fields, c.upscaler, '\t');
    fields >> c.tile >> c.overlap >> c.scale >> c.width >> c.height;
    out.push_back(c);
  }
  return out;
}

/// The largest difference between two images of one size, and how many samples differ at all.
std::pair<int, std::size_t> difference(const image8& a, const image8& b) {
  int worst = 0;
  std::size_t n = 0;
  for (std::size_t i = 0; i < a.pixels.size(); ++i) {
    const int d = std::abs(int(a.pixels[i]) - int(b.pixels[i]));
    worst = std::max(worst, d);
    n += d != 0;
  }
  return {worst, n};
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

} // namespace

BOOST_AUTO_TEST_CASE(each_architecture_upscales_as_a1111_with_spandrel) {
  auto library = std::make_shared<sdw::upscaler_library>(ref().folders());
  const auto models = sdw::model_upscalers_for(library, c10::Device(c10::kCPU), false);
  const auto all = cases();
  BOOST_TEST_REQUIRE(all.size() == 16u);
  for (const auto& c : all) {
    BOOST_TEST_CONTEXT(c.name) {
      BOOST_TEST_REQUIRE(models->has(c.upscaler));
      const image8 got = c.scale > 0 ? sdw::a1111_upscaler_upscale(ref().input, c.scale, c.upscaler,
                                                                    {models.get(), c.tile, c.overlap})
                                     : models->upscale_once(c.upscaler, ref().input, c.tile, c.overlap);
      BOOST_TEST_REQUIRE(got.width == c.width);
      BOOST_TEST_REQUIRE(got.height == c.height);
      const image8 want = reference::read_rgb(ref().dir.path + "/" + c.name + ".raw", c.width, c.height);
      const auto [worst, n] = difference(got, want);
      // The same float operations as torch's; where the order of a sum differs, one level at most.
      BOOST_TEST(worst <= 1);
      BOOST_TEST(n <= got.pixels.size() / 100);
    }
  }
}

BOOST_AUTO_TEST_CASE(names_and_scales_are_a1111s) {
  sdw::upscaler_library library(ref().folders());
  std::vector<std::string> names;
  for (const auto& e : library.present()) names.push_back(e.name);
  // Sorted by lower-case name; ESRGAN files by stem, R-ESRGAN by their fixed names.
  const std::vector<std::string> want = {"R-ESRGAN 2x+",  "R-ESRGAN AnimeVideo", "R-ESRGAN General 4xV3",
                                         "tiny-new-x2",   "tiny-new-x2-legacy",  "tiny-old-x4",
                                         "tiny-old-x4-zip", "x2plus-ema"};
  BOOST_TEST(names == want, boost::test_tools::per_element());
  const auto x2 = library.find("R-ESRGAN 2x+");
  BOOST_TEST_REQUIRE(x2.has_value());
  BOOST_TEST(x2->scale == 2);
  BOOST_TEST(x2->realesrgan);
  BOOST_TEST(!x2->model_name.has_value());
  const auto old4 = library.find("tiny-old-x4");
  BOOST_TEST_REQUIRE(old4.has_value());
  BOOST_TEST(old4->scale == 4);
  BOOST_TEST(*old4->model_name == "ESRGAN_4x");
  BOOST_TEST(old4->path == ref().dir.path + "/ESRGAN/tiny-old-x4.safetensors");
  // The network knows its own scale from the keys.
  const auto net = library.network(*library.find("R-ESRGAN 2x+"), c10::Device(c10::kCPU), c10::kFloat);
  BOOST_TEST(net->scale() == 2);
  BOOST_TEST(library.network(*library.find("R-ESRGAN 2x+"), c10::Device(c10::kCPU), c10::kFloat) == net);
  BOOST_TEST(library.network(*library.find("tiny-new-x2"), c10::Device(c10::kCPU), c10::kFloat)->scale() == 2);
  BOOST_TEST(library.network(*library.find("R-ESRGAN General 4xV3"), c10::Device(c10::kCPU), c10::kFloat)->architecture() ==
             "RealESRGAN Compact");
}

BOOST_AUTO_TEST_CASE(files_and_folders_linked_from_outside_are_not_listed) {
  namespace fs = std::filesystem;
  sdw::test::temp_dir dir("upscalers_links");
  const fs::path esrgan = fs::path(dir.path) / "ESRGAN";
  fs::create_directories(esrgan / "sub");
  const fs::path model = ref().dir.path + "/ESRGAN/tiny-old-x4.safetensors";
  fs::copy_file(model, esrgan / "sub" / "inside.safetensors");
  fs::create_symlink(model, esrgan / "outside.safetensors");
  fs::create_symlink(ref().dir.path + "/ESRGAN", esrgan / "elsewhere");
  fs::create_symlink(esrgan / "sub", esrgan / "again");  // a link that stays inside is followed
  sdw::upscaler_library library(sdw::upscaler_folders{esrgan.string(), dir.path + "/RealESRGAN"});
  std::vector<std::string> names;
  for (const auto& e : library.present()) names.push_back(e.name);
  BOOST_TEST(names == std::vector<std::string>{"inside"}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(absent_models_are_refused_naming_their_file) {
  auto library = std::make_shared<sdw::upscaler_library>(ref().folders());
  const auto models = sdw::model_upscalers_for(library, c10::Device(c10::kCPU), false);
  BOOST_TEST(*library->missing_file("R-ESRGAN 4x+") == ref().dir.path + "/RealESRGAN/RealESRGAN_x4plus.pth");
  BOOST_TEST(*library->missing_file("ESRGAN_4x") == ref().dir.path + "/ESRGAN/ESRGAN_4x.pth");
  BOOST_TEST(!library->missing_file("4x-UltraSharp").has_value());
  try {
    sdw::check_upscaler_name("hr_upscaler", "R-ESRGAN 4x+ Anime6B", models.get());
    BOOST_FAIL("an absent model was accepted");
  } catch (const sdw::error& e) {
    BOOST_TEST(e.code() == sdw::errc::bad_request);
    BOOST_TEST(e.where() == "hr_upscaler");
    BOOST_TEST(e.message().find("RealESRGAN/RealESRGAN_x4plus_anime_6B.pth") != std::string::npos, e.message());
    BOOST_TEST(e.message().find("tiny-old-x4") != std::string::npos, e.message());
  }
  try {
    sdw::check_upscaler_name("upscaler_1", "4x-UltraSharp", models.get());
    BOOST_FAIL("an unknown upscaler was accepted");
  } catch (const sdw::error& e) {
    BOOST_TEST(e.where() == "upscaler_1");
    BOOST_TEST(e.message().find("could not find upscaler named 4x-UltraSharp") != std::string::npos, e.message());
  }
  sdw::check_upscaler_name("upscaler_1", "tiny-old-x4", models.get());
  sdw::check_upscaler_name("upscaler_1", "Lanczos", models.get());
}

BOOST_AUTO_TEST_CASE(damaged_files_give_a_clear_error) {
  sdw::test::temp_dir dir("upscalers_bad");
  fs::create_directories(dir.path + "/ESRGAN");
  const std::string good = ref().dir.path + "/ESRGAN/tiny-old-x4.safetensors";
  std::ifstream in(good, std::ios::binary);
  const std::string bytes{std::istreambuf_iterator<char>(in), {}};
  write_file(dir.path + "/ESRGAN/cut.safetensors", bytes.substr(0, bytes.size() / 2));
  write_file(dir.path + "/ESRGAN/junk.pth", "not a model at all");
  // A valid safetensors file of other tensors.
  const std::string header = R"({"foo.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  std::string other(8, '\0');
  other[0] = static_cast<char>(header.size());
  write_file(dir.path + "/ESRGAN/other.safetensors", other + header + std::string(4, '\0'));
  auto library = std::make_shared<sdw::upscaler_library>(sdw::upscaler_folders{dir.path + "/ESRGAN", ""});
  const auto models = sdw::model_upscalers_for(library, c10::Device(c10::kCPU), false);
  for (const char* name : {"cut", "junk", "other"}) {
    BOOST_TEST_CONTEXT(name) {
      BOOST_TEST_REQUIRE(models->has(name));
      try {
        models->upscale_once(name, ref().input, 16, 4);
        BOOST_FAIL("a damaged file was used");
      } catch (const sdw::error& e) {
        BOOST_TEST(e.code() == sdw::errc::bad_checkpoint);
        BOOST_TEST(e.where().find(name) != std::string::npos, e.what());
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(a_tile_overlap_as_large_as_the_tile_is_refused) {
  auto library = std::make_shared<sdw::upscaler_library>(ref().folders());
  const auto models = sdw::model_upscalers_for(library, c10::Device(c10::kCPU), false);
  try {
    models->upscale_once("tiny-new-x2", ref().input, 16, 16);
    BOOST_FAIL("accepted");
  } catch (const sdw::error& e) {
    BOOST_TEST(e.where() == "ESRGAN_tile_overlap");
  }
}
