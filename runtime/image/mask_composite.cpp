#include "runtime/image/mask_composite.hpp"

#include "runtime/image/resample.hpp"

namespace sdw {
namespace {

/// Pillow's MULDIV255 and DIV255: a·b / 255 and a / 255 rounded in integers.
unsigned muldiv255(unsigned a, unsigned b) {
  const unsigned t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

/// RGB → RGBA, opaque.
image8 opaque(const image8& rgb) {
  image8 out(rgb.width, rgb.height, 4);
  const std::size_t n = static_cast<std::size_t>(rgb.width) * rgb.height;
  for (std::size_t i = 0; i < n; ++i) {
    for (int c = 0; c < 3; ++c) out.pixels[i * 4 + c] = rgb.pixels[i * 3 + c];
    out.pixels[i * 4 + 3] = 255;
  }
  return out;
}

} // namespace

image8 returned_mask(const image8& mask_for_overlay) { return to_rgb(mask_for_overlay); }

image8 mask_composite(const image8& generated, const crop_box* paste_to, const image8& mask_for_overlay) {
  image8 original;
  if (paste_to) {
    // uncrop: transparent where the processed region is not.
    original = image8(mask_for_overlay.width, mask_for_overlay.height, 4);
    paste(original, opaque(a1111_resize_image(1, generated, paste_to->width(), paste_to->height())),
          paste_to->x1, paste_to->y1);
  } else {
    original = opaque(to_rgb(generated));
  }
  const image8 mask = to_gray(a1111_resize_image(2, mask_for_overlay, original.width, original.height));
  image8 out(original.width, original.height, 4);
  const std::size_t n = static_cast<std::size_t>(original.width) * original.height;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* px = &original.pixels[i * 4];
    const unsigned m = mask.pixels[i];
    std::uint8_t* o = &out.pixels[i * 4];
    // RGBA → RGBa (premultiplied), pasted through the mask onto zeros: m·v / 255 for each band.
    unsigned rgba[4];
    for (int c = 0; c < 3; ++c) rgba[c] = muldiv255(muldiv255(px[c], px[3]), m);
    rgba[3] = muldiv255(px[3], m);
    // RGBa → RGBA: Pillow's rgba2rgbA.
    const unsigned alpha = rgba[3];
    for (int c = 0; c < 3; ++c) {
      const unsigned v = alpha == 255 || alpha == 0 ? rgba[c] : 255 * rgba[c] / alpha;
      o[c] = static_cast<std::uint8_t>(v > 255 ? 255 : v);
    }
    o[3] = static_cast<std::uint8_t>(alpha);
  }
  return out;
}

} // namespace sdw
