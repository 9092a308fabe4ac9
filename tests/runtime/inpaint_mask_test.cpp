#define BOOST_TEST_MODULE inpaint_mask
#include <boost/test/unit_test.hpp>

#include "runtime/image/image_decode.hpp"
#include "runtime/image/inpaint_mask.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/temp_dir.hpp"

#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>

// Every operation of inpaint_mask.hpp against what A1111 1.9.4 computes with Pillow 9.5, OpenCV and
// numpy (tests/runtime/inpaint_mask_reference.py) on the same PNG inputs: byte for byte, float for float.

namespace {

using sdw::test::slurp;

struct reference {
  sdw::test::temp_dir dir;
  std::vector<std::vector<std::string>> rows;
  std::map<std::string, sdw::image8> opened;
  reference() {
    const std::string script = std::string(std::getenv("SDW_SOURCE_DIR")) + "/tests/runtime/inpaint_mask_reference.py";
    auto [rc, out] = sdw::test::run_command(sdw::test::python() + " '" + script + "' " + dir.path);
    BOOST_REQUIRE_MESSAGE(rc == 0, "inpaint_mask_reference.py failed:\n" << out);
    std::istringstream lines(slurp(dir.file("manifest.txt")));
    for (std::string line; std::getline(lines, line);) {
      std::istringstream fields(line);
      std::vector<std::string> row{std::istream_iterator<std::string>(fields), {}};
      if (row.size() >= 4) rows.push_back(row);
    }
  }
  const sdw::image8& image(const std::string& name) {
    auto it = opened.find(name);
    if (it == opened.end()) it = opened.emplace(name, sdw::decode_image(slurp(dir.file(name)), name)).first;
    return it->second;
  }
};

reference& ref() {
  static reference r;
  return r;
}

/// "" when equal, else where they first differ.
std::string difference(const sdw::image8& got, const sdw::image8& want) {
  std::ostringstream s;
  if (got.width != want.width || got.height != want.height || got.channels != want.channels) {
    s << "shape " << got.width << "x" << got.height << "x" << got.channels << ", want " << want.width << "x"
      << want.height << "x" << want.channels;
    return s.str();
  }
  for (std::size_t i = 0; i < got.pixels.size(); ++i) {
    if (got.pixels[i] == want.pixels[i]) continue;
    const std::size_t px = i / got.channels;
    s << "pixel (" << px % got.width << ", " << px / got.width << ") channel " << i % got.channels << ": "
      << int(got.pixels[i]) << ", want " << int(want.pixels[i]);
    return s.str();
  }
  return "";
}

std::string box_text(const sdw::crop_box& b) {
  return std::to_string(b.x1) + " " + std::to_string(b.y1) + " " + std::to_string(b.x2) + " " + std::to_string(b.y2);
}

} // namespace

BOOST_AUTO_TEST_CASE(every_operation_equals_a1111_with_pillow_and_opencv) {
  BOOST_REQUIRE_GE(ref().rows.size(), 1000u);
  std::map<std::string, int> checked;
  for (const auto& r : ref().rows) {
    const std::string& name = r[0];
    const std::string& op = r[1];
    std::vector<int> a;
    for (std::size_t i = 4; i < r.size(); ++i) a.push_back(std::stoi(r[i]));
    BOOST_TEST_CONTEXT("case " << name) {
      const auto mask = [&] { return sdw::create_binary_mask(ref().image(r[2]), true); };
      if (op == "region" || op == "expand") {
        const sdw::crop_box got =
            op == "region" ? sdw::get_crop_region(mask(), a.at(0))
                           : sdw::expand_crop_region({a.at(0), a.at(1), a.at(2), a.at(3)}, a.at(4), a.at(5), a.at(6), a.at(7));
        BOOST_TEST(box_text(got) == slurp(ref().dir.file(name + ".txt")));
      } else if (op == "latent") {
        const std::vector<float> got = sdw::latent_mask_values(ref().image(r[2]), a.at(0), a.at(1), a.at(2) != 0);
        const std::string raw = slurp(ref().dir.file(name + ".f32"));
        BOOST_REQUIRE_EQUAL(raw.size(), got.size() * sizeof(float));
        std::vector<float> want(got.size());
        std::memcpy(want.data(), raw.data(), raw.size());
        for (std::size_t i = 0; i < got.size(); ++i) {
          BOOST_TEST_REQUIRE(got[i] == want[i], "value " << i << ": " << got[i] << ", want " << want[i]);
        }
      } else {
        sdw::image8 got;
        if (op == "binary") {
          got = sdw::create_binary_mask(ref().image(r[2]), a.at(0) != 0);
        } else if (op == "invert") {
          got = sdw::invert_mask(mask());
        } else if (op == "double") {
          got = sdw::double_mask(ref().image(r[2]));
        } else if (op == "blur") {
          got = sdw::blur_mask(mask(), a.at(0), a.at(1));
        } else if (op == "overlay") {
          got = sdw::make_overlay(ref().image(r[2]), sdw::create_binary_mask(ref().image(r[3]), true));
        } else if (op == "fill") {
          got = sdw::inpaint_fill(ref().image(r[2]), sdw::create_binary_mask(ref().image(r[3]), true));
        } else if (op == "apply") {
          const sdw::crop_box at = a.empty() ? sdw::crop_box{} : sdw::crop_box{a[0], a[1], a[2], a[3]};
          got = sdw::apply_overlay(ref().image(r[2]), a.empty() ? nullptr : &at, ref().image(r[3]));
        } else if (op == "crop") {
          got = sdw::crop(ref().image(r[2]), {a.at(0), a.at(1), a.at(2), a.at(3)});
        } else {
          BOOST_FAIL("unknown operation " << op);
        }
        const sdw::image8 want = sdw::decode_image(slurp(ref().dir.file(name + ".png")), name);
        const std::string diff = difference(got, want);
        BOOST_TEST(diff.empty(), diff);
      }
      ++checked[op];
    }
  }
  // Every operation was exercised, so a manifest that lost a kind of case fails here.
  for (const char* op : {"binary", "invert", "double", "blur", "region", "expand", "crop", "latent", "overlay",
                         "fill", "apply"})
    BOOST_TEST(checked[op] > 0, op);
}
