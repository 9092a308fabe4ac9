#include "runtime/image/inpaint_mask.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/image/pil_blur.hpp"
#include "runtime/image/pil_composite.hpp"
#include "runtime/image/resample.hpp"

#include <algorithm>
#include <cmath>

namespace sdw {
namespace {

/// Python's `a // b` for b > 0: rounds towards negative infinity.
int floor_div(int a, int b) {
  const int q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

image8 as_gray(const image8& im) { return im.channels == 1 ? im : to_gray(im); }

/// `convert("RGBA")` of an RGB image: opaque.
image8 rgb_to_rgba(const image8& im) {
  const image8 rgb = to_rgb(im);
  image8 out(rgb.width, rgb.height, 4);
  const std::size_t n = static_cast<std::size_t>(rgb.width) * rgb.height;
  for (std::size_t i = 0; i < n; ++i) {
    std::copy_n(rgb.pixels.data() + i * 3, 3, out.pixels.data() + i * 4);
    out.pixels[i * 4 + 3] = 255;
  }
  return out;
}

/// The image's unmasked pixels as an RGBa (premultiplied) image: a transparent canvas with the
/// opaque image pasted through the inverted mask, as A1111's overlay and fill both start.
image8 masked_premultiplied(const image8& image, const image8& mask) {
  const image8 keep = invert_mask(as_gray(mask));
  if (keep.width != image.width || keep.height != image.height)
    throw error(errc::internal, "inpaint mask", "the mask and the image differ in size");
  image8 out(image.width, image.height, 4);
  // An opaque RGBA image is its own premultiplied form.
  pil_paste_masked(out, rgb_to_rgba(image), keep);
  return out;
}

/// One axis of expand_crop_region: [lo, hi) grown by `diff` split as Python's // does, then
/// shifted back inside [0, size).
void grow_span(int& lo, int& hi, int diff, int size) {
  lo -= floor_div(diff, 2);
  hi += diff - floor_div(diff, 2);
  if (hi >= size) {
    const int over = hi - size;
    hi -= over;
    lo -= over;
  }
  if (lo < 0) {
    hi -= lo;
    lo = 0;
  }
  if (hi >= size) hi = size;
}

} // namespace

image8 create_binary_mask(const image8& mask, bool round) {
  if (mask.channels == 4) {
    const std::size_t n = static_cast<std::size_t>(mask.width) * mask.height;
    bool opaque = true;
    for (std::size_t i = 0; i < n && opaque; ++i) opaque = mask.pixels[i * 4 + 3] == 255;
    if (!opaque) {
      image8 alpha(mask.width, mask.height, 1);
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint8_t a = mask.pixels[i * 4 + 3];
        alpha.pixels[i] = round ? (a > 128 ? 255 : 0) : a;
      }
      return alpha;
    }
  }
  return as_gray(mask);
}

image8 invert_mask(const image8& mask) {
  image8 out = as_gray(mask);
  for (auto& v : out.pixels) v = static_cast<std::uint8_t>(255 - v);
  return out;
}

crop_box get_crop_region(const image8& mask, int pad) {
  const image8 m = as_gray(mask);
  const int w = m.width, h = m.height;
  // The bounding box of the non-zero pixels; a blank mask leaves x1 = w, x2 = 0 (and so for y).
  int x1 = w, y1 = h, x2 = 0, y2 = 0;
  for (int y = 0; y < h; ++y) {
    const std::uint8_t* row = m.row(y);
    for (int x = 0; x < w; ++x) {
      if (row[x] == 0) continue;
      x1 = std::min(x1, x);
      x2 = std::max(x2, x + 1);
      y1 = std::min(y1, y);
      y2 = std::max(y2, y + 1);
    }
  }
  return {std::max(x1 - pad, 0), std::max(y1 - pad, 0), std::min(x2 + pad, w), std::min(y2 + pad, h)};
}

crop_box expand_crop_region(crop_box box, int processing_width, int processing_height, int image_width,
                            int image_height) {
  if (box.height() == 0 || processing_height == 0)
    throw error(errc::internal, "inpaint mask", "a crop region or processing size of height 0");
  const double ratio_crop_region = static_cast<double>(box.width()) / box.height();
  const double ratio_processing = static_cast<double>(processing_width) / processing_height;
  if (ratio_crop_region > ratio_processing) {
    const double desired_height = box.width() / ratio_processing;
    const int diff = static_cast<int>(desired_height - box.height());  // int(): towards zero
    grow_span(box.y1, box.y2, diff, image_height);
  } else {
    const double desired_width = box.height() * ratio_processing;
    const int diff = static_cast<int>(desired_width - box.width());
    grow_span(box.x1, box.x2, diff, image_width);
  }
  return box;
}

image8 crop(const image8& in, const crop_box& box) {
  // PIL fills what lies outside the source with zeros.
  image8 out(std::max(box.width(), 0), std::max(box.height(), 0), in.channels);
  const int ch = in.channels;
  for (int y = 0; y < out.height; ++y) {
    const int sy = box.y1 + y;
    if (sy < 0 || sy >= in.height) continue;
    const int x0 = std::max(0, -box.x1), x1 = std::min(out.width, in.width - box.x1);
    if (x0 >= x1) continue;
    std::copy(in.row(sy) + (box.x1 + x0) * ch, in.row(sy) + (box.x1 + x1) * ch, out.row(y) + x0 * ch);
  }
  return out;
}

image8 double_mask(const image8& mask) {
  image8 out = mask;
  for (auto& v : out.pixels) v = static_cast<std::uint8_t>(std::min(2 * v, 255));
  return out;
}

image8 make_overlay(const image8& image, const image8& mask_for_overlay) {
  return pil_unpremultiply(masked_premultiplied(image, mask_for_overlay));
}

image8 inpaint_fill(const image8& image, const image8& mask) {
  const image8 masked = masked_premultiplied(image, mask);
  image8 canvas(image.width, image.height, 4);
  static constexpr struct {
    float radius;
    int repeats;
  } steps[] = {{256, 1}, {64, 1}, {16, 2}, {4, 4}, {2, 2}, {0, 1}};
  for (const auto& s : steps) {
    const image8 blurred = pil_unpremultiply(pil_gaussian_blur(masked, s.radius));
    for (int i = 0; i < s.repeats; ++i) pil_alpha_composite(canvas, blurred);
  }
  return to_rgb(canvas);
}

image8 apply_overlay(const image8& image, const crop_box* paste_to, const image8& overlay) {
  image8 base;
  if (paste_to) {
    // uncrop: a transparent canvas with the resized image pasted opaque.
    base = image8(overlay.width, overlay.height, 4);
    paste(base, rgb_to_rgba(a1111_resize_image(1, image, paste_to->width(), paste_to->height())), paste_to->x1,
          paste_to->y1);
  } else {
    base = rgb_to_rgba(image);
  }
  pil_alpha_composite(base, overlay);
  return to_rgb(base);
}

std::vector<float> latent_mask_values(const image8& mask, int latent_width, int latent_height, bool round) {
  // convert("RGB") then channel 0: the gray value of an L mask, the red one of a colour mask.
  image8 first(mask.width, mask.height, 1);
  const std::size_t n = static_cast<std::size_t>(mask.width) * mask.height;
  for (std::size_t i = 0; i < n; ++i) first.pixels[i] = mask.pixels[i * mask.channels];
  const image8 small = pil_resize(first, latent_width, latent_height, resample_filter::bicubic);
  std::vector<float> out(small.pixels.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    const float v = static_cast<float>(small.pixels[i]) / 255.0f;
    out[i] = round ? std::nearbyint(v) : v;  // np.around: half to even
  }
  return out;
}

} // namespace sdw
