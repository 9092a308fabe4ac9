#include "runtime/image/pil_blur.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace sdw {
namespace {

constexpr int passes = 3;

/// BoxBlur.c _gaussian_blur_radius, in its float and double steps.
float box_radius(float radius) {
  const float sigma2 = radius * radius / passes;
  const float L = static_cast<float>(std::sqrt(12.0 * sigma2 + 1.0));
  const float l = static_cast<float>(std::floor((L - 1.0) / 2.0));
  float a = (2 * l + 1) * (l * (l + 1) - 3 * sigma2);
  a /= 6 * (sigma2 - (l + 1) * (l + 1));
  return l + a;
}

/// The weights of one box pass: `ww` for the whole pixels inside the radius, `fw` for the two
/// partial ones at its ends, in 24-bit fixed point (ImagingHorizontalBoxBlur).
struct box_weights {
  int radius;
  std::uint32_t ww, fw;
  explicit box_weights(float r)
      : radius(static_cast<int>(r)),
        ww(static_cast<std::uint32_t>(static_cast<float>(1 << 24) / (r * 2 + 1))),
        fw(((1u << 24) - static_cast<std::uint32_t>(radius * 2 + 1) * ww) / 2) {}
};

/// ImagingLineBoxBlur: one line of `len` samples `step` apart, into `out` (contiguous). Unsigned
/// 32-bit arithmetic throughout, as Pillow's (the running sum may wrap between its terms).
void blur_line(const std::uint8_t* in, std::ptrdiff_t step, int len, const box_weights& w, std::uint8_t* out) {
  const int radius = w.radius, lastx = len - 1;
  const int edgeA = std::min(radius + 1, len);
  const int edgeB = std::max(len - radius - 1, 0);
  const auto px = [&](int x) -> std::uint32_t { return in[x * step]; };
  std::uint32_t acc = px(0) * static_cast<std::uint32_t>(radius + 1);
  for (int x = 0; x < edgeA - 1; ++x) acc += px(x);
  acc += px(lastx) * static_cast<std::uint32_t>(radius - edgeA + 1);

  const auto step_to = [&](int x, int subtract, int add, int far_left, int far_right) {
    acc += px(add) - px(subtract);
    const std::uint32_t bulk = acc * w.ww + (px(far_left) + px(far_right)) * w.fw;
    out[x] = static_cast<std::uint8_t>((bulk + (1u << 23)) >> 24);
  };
  if (edgeA <= edgeB) {
    for (int x = 0; x < edgeA; ++x) step_to(x, 0, x + radius, 0, x + radius + 1);
    for (int x = edgeA; x < edgeB; ++x) step_to(x, x - radius - 1, x + radius, x - radius - 1, x + radius + 1);
    for (int x = edgeB; x <= lastx; ++x) step_to(x, x - radius - 1, lastx, x - radius - 1, lastx);
  } else {
    for (int x = 0; x < edgeB; ++x) step_to(x, 0, x + radius, 0, x + radius + 1);
    for (int x = edgeB; x < edgeA; ++x) step_to(x, 0, lastx, 0, lastx);
    for (int x = edgeA; x <= lastx; ++x) step_to(x, x - radius - 1, lastx, x - radius - 1, lastx);
  }
}

/// One box pass over every line of `count` lines, each `len` samples: line i of channel c starts
/// at i · line_step + c, its samples `step` apart.
void blur_lines(image8& im, int count, std::ptrdiff_t line_step, int len, std::ptrdiff_t step, const box_weights& w) {
  std::vector<std::uint8_t> line(static_cast<std::size_t>(len));
  for (int i = 0; i < count; ++i) {
    for (int c = 0; c < im.channels; ++c) {
      std::uint8_t* base = im.pixels.data() + i * line_step + c;
      blur_line(base, step, len, w, line.data());
      for (int x = 0; x < len; ++x) base[x * step] = line[static_cast<std::size_t>(x)];
    }
  }
}

} // namespace

image8 pil_gaussian_blur(const image8& in, float radius) {
  image8 out = in;
  const float r = box_radius(radius);
  if (r == 0 || out.empty()) return out;  // ImagingBoxBlur copies for a zero radius
  const box_weights w(r);
  const std::ptrdiff_t ch = out.channels, row = static_cast<std::ptrdiff_t>(out.width) * ch;
  for (int p = 0; p < passes; ++p) blur_lines(out, out.height, row, out.width, ch, w);
  for (int p = 0; p < passes; ++p) blur_lines(out, out.width, ch, out.height, row, w);
  return out;
}

} // namespace sdw
