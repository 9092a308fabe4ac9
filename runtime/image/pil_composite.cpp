#include "runtime/image/pil_composite.hpp"

#include "runtime/base/errors.hpp"

#include <algorithm>
#include <cstdint>

namespace sdw {
namespace {

/// Paste.c DIV255 and Convert.c MULDIV255: rounding division by 255 without a divide.
inline std::uint8_t div255(std::uint32_t v) {
  const std::uint32_t t = v + 128;
  return static_cast<std::uint8_t>(((t >> 8) + t) >> 8);
}

void require_rgba(const image8& im, const char* what) {
  if (im.channels != 4) throw error(errc::internal, "image", std::string(what) + " needs an RGBA image");
}

} // namespace

image8 pil_premultiply(const image8& rgba) {
  require_rgba(rgba, "premultiplying");
  image8 out = rgba;
  for (std::size_t i = 0; i < out.pixels.size(); i += 4) {
    const std::uint32_t a = out.pixels[i + 3];
    for (int c = 0; c < 3; ++c) out.pixels[i + c] = div255(out.pixels[i + c] * a);
  }
  return out;
}

image8 pil_unpremultiply(const image8& rgba) {
  require_rgba(rgba, "unpremultiplying");
  image8 out = rgba;
  for (std::size_t i = 0; i < out.pixels.size(); i += 4) {
    const std::uint32_t a = out.pixels[i + 3];
    if (a == 0 || a == 255) continue;
    for (int c = 0; c < 3; ++c)
      out.pixels[i + c] = static_cast<std::uint8_t>(std::min<std::uint32_t>(255, 255 * out.pixels[i + c] / a));
  }
  return out;
}

void pil_paste_masked(image8& dest, const image8& src, const image8& mask) {
  if (dest.width != src.width || dest.height != src.height || dest.channels != src.channels ||
      mask.width != dest.width || mask.height != dest.height || mask.channels != 1)
    throw error(errc::internal, "image", "masked paste needs images and an L mask of one size");
  const int ch = dest.channels;
  const std::size_t n = static_cast<std::size_t>(dest.width) * dest.height;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t m = mask.pixels[i];
    for (int c = 0; c < ch; ++c) {
      std::uint8_t& d = dest.pixels[i * ch + c];
      d = div255(d * (255 - m) + src.pixels[i * ch + c] * m);
    }
  }
}

void pil_alpha_composite(image8& dest, const image8& src) {
  require_rgba(dest, "alpha compositing");
  require_rgba(src, "alpha compositing");
  if (dest.width != src.width || dest.height != src.height)
    throw error(errc::internal, "image", "alpha compositing needs images of one size");
  constexpr std::uint32_t precision_bits = 7;
  const auto shift_div255 = [](std::uint32_t v) { return ((v >> 8) + v) >> 8; };
  for (std::size_t i = 0; i < dest.pixels.size(); i += 4) {
    std::uint8_t* d = dest.pixels.data() + i;
    const std::uint8_t* s = src.pixels.data() + i;
    if (s[3] == 0) continue;
    const std::uint32_t blend = d[3] * (255u - s[3]);
    const std::uint32_t outa255 = s[3] * 255u + blend;
    const std::uint32_t coef1 = s[3] * 255u * 255u * (1u << precision_bits) / outa255;
    const std::uint32_t coef2 = 255u * (1u << precision_bits) - coef1;
    for (int c = 0; c < 3; ++c) {
      const std::uint32_t t = s[c] * coef1 + d[c] * coef2;
      d[c] = static_cast<std::uint8_t>(shift_div255(t + (0x80u << precision_bits)) >> precision_bits);
    }
    d[3] = static_cast<std::uint8_t>(shift_div255(outa255 + 0x80u));
  }
}

} // namespace sdw
