#pragma once
/// An 8-bit image as PIL holds one, and the conversions A1111's img2img applies to its inputs.

#include <cstdint>
#include <string>
#include <vector>

namespace sdw {

/// 8 bits per sample, `channels` samples per pixel: 1 (PIL "L"), 2 ("LA"), 3 ("RGB") or 4 ("RGBA");
/// rows top to bottom, no padding.
struct image8 {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<std::uint8_t> pixels;

  image8() = default;
  /// A black (all-zero) image.
  image8(int w, int h, int c);

  std::uint8_t* row(int y) { return pixels.data() + static_cast<std::size_t>(y) * width * channels; }
  const std::uint8_t* row(int y) const { return pixels.data() + static_cast<std::size_t>(y) * width * channels; }
  bool empty() const { return width <= 0 || height <= 0; }
};

/// PIL's `convert("RGB")`: gray replicated, alpha dropped.
image8 to_rgb(const image8& in);

/// PIL's `convert("L")`: RGB by ITU-R 601-2 luma (R·299 + G·587 + B·114) / 1000 in PIL's fixed point,
/// alpha dropped.
image8 to_gray(const image8& in);

/// An `#rgb` / `#rrggbb` colour (A1111's `img2img_background_color`). Else sdw::error(bad_request, field).
struct rgb_color {
  std::uint8_t r = 255, g = 255, b = 255;
};
rgb_color parse_color(const std::string& text, const std::string& field);

/// A1111's images.flatten: an RGBA image is composited onto `background` (PIL's paste with its own
/// alpha as mask); every image comes back RGB.
image8 flatten(const image8& in, rgb_color background);

} // namespace sdw
