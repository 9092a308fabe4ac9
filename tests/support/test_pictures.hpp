#pragma once
// Pictures the img2img and inpainting tests start from: smooth random colour, as photos look to the
// VAE and the resampler, written as PNG where the PyTorch references can open them too.

#include "runtime/base/encoding.hpp"
#include "runtime/base/png_codec.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace sdw::test {

/// Writes a w×h RGB PNG of smooth random colour (`seed` picks it) to `path`; returns its base64.
inline std::string write_init_png(const std::string& path, int w, int h, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> u(0, 1);
  const double a = u(gen) * 6, b = u(gen) * 6;
  u(gen);  // a draw the pictures have always skipped: the tests' inputs keep their colours
  std::vector<std::uint8_t> rgb(static_cast<std::size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const double fx = double(x) / w, fy = double(y) / h;
      std::uint8_t* p = &rgb[(static_cast<std::size_t>(y) * w + x) * 3];
      p[0] = static_cast<std::uint8_t>(127.5 + 127 * std::sin(a * fx + fy * 3));
      p[1] = static_cast<std::uint8_t>(127.5 + 127 * std::cos(b * fy - fx));
      p[2] = static_cast<std::uint8_t>(std::min(255.0, 255 * u(gen) * 0.3 + 180 * fx * fy));
    }
  }
  const std::string png = encode_png(rgb.data(), w, h, {});
  std::ofstream(path, std::ios::binary) << png;
  return base64_encode(png);
}

} // namespace sdw::test
