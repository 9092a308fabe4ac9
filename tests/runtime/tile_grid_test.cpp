#define BOOST_TEST_MODULE tile_grid
#include <boost/test/unit_test.hpp>

#include "runtime/base/errors.hpp"
#include "runtime/image/resample.hpp"
#include "runtime/image/tile_grid.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/temp_dir.hpp"

#include <fstream>
#include <iterator>
#include <sstream>

namespace {

using sdw::test::slurp;

sdw::image8 raw_rgb(const std::string& bytes, std::size_t offset, int w, int h) {
  sdw::image8 im(w, h, 3);
  BOOST_REQUIRE_GE(bytes.size(), offset + im.pixels.size());
  std::copy(bytes.begin() + static_cast<std::ptrdiff_t>(offset),
            bytes.begin() + static_cast<std::ptrdiff_t>(offset + im.pixels.size()), im.pixels.begin());
  return im;
}

/// The largest difference between two images of equal shape, or 256 when the shapes differ.
int max_diff(const sdw::image8& a, const sdw::image8& b) {
  if (a.width != b.width || a.height != b.height || a.channels != b.channels) return 256;
  int m = 0;
  for (std::size_t i = 0; i < a.pixels.size(); ++i) m = std::max(m, std::abs(a.pixels[i] - b.pixels[i]));
  return m;
}

/// What tile_grid_reference.py does to tile k in place of img2img.
sdw::image8 shift(sdw::image8 tile, int k) {
  for (auto& v : tile.pixels) v = static_cast<std::uint8_t>((v + 41 * k) % 256);
  return tile;
}

} // namespace

// The pure image parts of SD upscale against Pillow 9.5 running A1111's code
// (tests/runtime/tile_grid_reference.py): the upscaler's passes, the tiles cut, and the overlaps
// blended back, including an image smaller than a tile, no overlap, and a scale of 1 and below.
BOOST_AUTO_TEST_CASE(upscale_split_and_combine_equal_pillow_pixel_for_pixel) {
  sdw::test::temp_dir dir;
  const std::string script = std::string(std::getenv("SDW_SOURCE_DIR")) + "/tests/runtime/tile_grid_reference.py";
  auto [rc, out] = sdw::test::run_command(sdw::test::python() + " '" + script + "' " + dir.path);
  BOOST_REQUIRE_MESSAGE(rc == 0, "tile_grid_reference.py failed:\n" << out);
  std::istringstream lines(slurp(dir.file("manifest.txt")));
  int cases = 0;
  for (std::string line; std::getline(lines, line);) {
    std::istringstream f(line);
    std::string name, upscaler;
    int w, h, tw, th, overlap, uw, uh, tiles;
    double scale;
    f >> name >> w >> h >> upscaler >> scale >> tw >> th >> overlap >> uw >> uh >> tiles;
    BOOST_TEST_CONTEXT("case " << name) {
      ++cases;
      const sdw::image8 in = raw_rgb(slurp(dir.file(name + ".in.raw")), 0, w, h);
      const sdw::image8 up = upscaler == "None" ? in : sdw::a1111_upscaler_upscale(in, scale, upscaler);
      BOOST_TEST(max_diff(up, raw_rgb(slurp(dir.file(name + ".up.raw")), 0, uw, uh)) == 0);

      sdw::tile_grid grid = sdw::split_grid(up, tw, th, overlap);
      BOOST_REQUIRE_EQUAL(grid.tile_count(), tiles);
      const std::string want_tiles = slurp(dir.file(name + ".tiles.raw"));
      int k = 0;
      for (auto& row : grid.rows) {
        for (auto& t : row.tiles) {
          BOOST_TEST(max_diff(t.image, raw_rgb(want_tiles, static_cast<std::size_t>(k) * tw * th * 3, tw, th)) == 0,
                     "tile " << k);
          t.image = shift(t.image, k);
          ++k;
        }
      }
      const sdw::image8 combined = sdw::combine_grid(grid);
      BOOST_TEST(max_diff(combined, raw_rgb(slurp(dir.file(name + ".combined.raw")), 0, uw, uh)) == 0);
    }
  }
  BOOST_TEST(cases == 7);
}

// A1111's API test: a 64×64 image, Lanczos ×2, 64×64 tiles overlapping by 8 → three columns at
// x = 0, 32, 64 and three rows likewise, a 128×128 result.
BOOST_AUTO_TEST_CASE(the_a1111_test_request_makes_nine_tiles) {
  const sdw::grid_shape s = sdw::split_grid_shape(128, 128, 64, 64, 8);
  BOOST_TEST(s.cols == 3);
  BOOST_TEST(s.rows == 3);
  const sdw::tile_grid g = sdw::split_grid(sdw::image8(128, 128, 3), 64, 64, 8);
  BOOST_REQUIRE_EQUAL(g.rows.size(), 3u);
  for (int r = 0; r < 3; ++r) {
    BOOST_TEST(g.rows[r].y == 32 * r);
    BOOST_REQUIRE_EQUAL(g.rows[r].tiles.size(), 3u);
    for (int c = 0; c < 3; ++c) {
      BOOST_TEST(g.rows[r].tiles[c].x == 32 * c);
      BOOST_TEST(g.rows[r].tiles[c].image.width == 64);
      BOOST_TEST(g.rows[r].tiles[c].image.height == 64);
    }
  }
  const sdw::image8 back = sdw::combine_grid(g);
  BOOST_TEST(back.width == 128);
  BOOST_TEST(back.height == 128);
  // 512×512 tiles of a 1024×768 image with A1111's default overlap of 64: 3 × 2.
  const sdw::grid_shape d = sdw::split_grid_shape(1024, 768, 512, 512, 64);
  BOOST_TEST(d.cols == 3);
  BOOST_TEST(d.rows == 2);
}

BOOST_AUTO_TEST_CASE(an_overlap_as_wide_as_a_tile_is_refused) {
  BOOST_CHECK_THROW(sdw::split_grid_shape(128, 128, 64, 64, 64), sdw::error);
  BOOST_CHECK_THROW(sdw::split_grid_shape(128, 128, 64, 64, -1), sdw::error);
}
