#include "runtime/image/resample.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/image/model_upscalers.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

namespace sdw {
namespace {

constexpr int precision_bits = 32 - 8 - 2;  // Pillow's 8-bit coefficient precision

double sinc(double x) {
  if (x == 0.0) return 1.0;
  x *= M_PI;
  return std::sin(x) / x;
}

double lanczos(double x) { return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3) : 0.0; }

double bicubic(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

/// For each output pixel: the first input pixel used, how many, and their fixed-point weights.
struct coefficients {
  int ksize = 0;
  std::vector<int> bounds;  // xmin, count per output pixel
  std::vector<std::int32_t> weights;
};

coefficients precompute(int in_size, float in0, float in1, int out_size, resample_filter filter) {
  const double support_base = filter == resample_filter::lanczos ? 3.0 : 2.0;
  double (*fn)(double) = filter == resample_filter::lanczos ? lanczos : bicubic;
  const double scale = static_cast<double>(in1 - in0) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = support_base * filterscale;
  coefficients c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.bounds.resize(static_cast<std::size_t>(out_size) * 2);
  c.weights.assign(static_cast<std::size_t>(out_size) * c.ksize, 0);
  std::vector<double> k(static_cast<std::size_t>(c.ksize));
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = in0 + (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      k[x] = fn((x + xmin - center + 0.5) * ss);
      ww += k[x];
    }
    for (int x = 0; x < xmax; ++x) {
      const double w = ww != 0.0 ? k[x] / ww : k[x];
      const double fixed = w * (1 << precision_bits);
      c.weights[static_cast<std::size_t>(xx) * c.ksize + x] =
          static_cast<std::int32_t>(w < 0 ? -0.5 + fixed : 0.5 + fixed);
    }
    c.bounds[static_cast<std::size_t>(xx) * 2] = xmin;
    c.bounds[static_cast<std::size_t>(xx) * 2 + 1] = xmax;
  }
  return c;
}

inline std::uint8_t clip8(std::int32_t v) {
  const std::int32_t s = v >> precision_bits;  // arithmetic shift: floor, as Pillow's lookup table
  return static_cast<std::uint8_t>(s < 0 ? 0 : s > 255 ? 255 : s);
}

image8 horizontal(const image8& in, int out_width, const coefficients& c) {
  image8 out(out_width, in.height, in.channels);
  const int ch = in.channels;
  for (int y = 0; y < in.height; ++y) {
    const std::uint8_t* src = in.row(y);
    std::uint8_t* dst = out.row(y);
    for (int xx = 0; xx < out_width; ++xx) {
      const int xmin = c.bounds[static_cast<std::size_t>(xx) * 2];
      const int count = c.bounds[static_cast<std::size_t>(xx) * 2 + 1];
      const std::int32_t* k = &c.weights[static_cast<std::size_t>(xx) * c.ksize];
      for (int b = 0; b < ch; ++b) {
        std::int32_t ss = 1 << (precision_bits - 1);
        for (int x = 0; x < count; ++x) ss += src[(x + xmin) * ch + b] * k[x];
        dst[xx * ch + b] = clip8(ss);
      }
    }
  }
  return out;
}

image8 vertical(const image8& in, int out_height, const coefficients& c) {
  image8 out(in.width, out_height, in.channels);
  const int rowlen = in.width * in.channels;
  for (int yy = 0; yy < out_height; ++yy) {
    const int ymin = c.bounds[static_cast<std::size_t>(yy) * 2];
    const int count = c.bounds[static_cast<std::size_t>(yy) * 2 + 1];
    const std::int32_t* k = &c.weights[static_cast<std::size_t>(yy) * c.ksize];
    std::uint8_t* dst = out.row(yy);
    for (int i = 0; i < rowlen; ++i) {
      std::int32_t ss = 1 << (precision_bits - 1);
      for (int y = 0; y < count; ++y) ss += in.row(y + ymin)[i] * k[y];
      dst[i] = clip8(ss);
    }
  }
  return out;
}

/// Pillow's ImagingScaleAffine: source index of each output pixel, stepping the centre in doubles.
std::vector<int> nearest_index(int out_size, double step, double start) {
  std::vector<int> idx(static_cast<std::size_t>(out_size));
  double o = start + step * 0.5;
  for (int i = 0; i < out_size; ++i) {
    idx[static_cast<std::size_t>(i)] = o < 0.0 ? -1 : static_cast<int>(o);
    o += step;
  }
  return idx;
}

image8 nearest(const image8& in, int width, int height, resample_box box) {
  const auto xs = nearest_index(width, static_cast<double>(box.x1 - box.x0) / width, box.x0);
  const auto ys = nearest_index(height, static_cast<double>(box.y1 - box.y0) / height, box.y0);
  image8 out(width, height, in.channels);
  const int ch = in.channels;
  for (int y = 0; y < height; ++y) {
    const int sy = ys[static_cast<std::size_t>(y)];
    if (sy < 0 || sy >= in.height) continue;  // Pillow fills with zeros
    for (int x = 0; x < width; ++x) {
      const int sx = xs[static_cast<std::size_t>(x)];
      if (sx < 0 || sx >= in.width) continue;
      std::copy(in.row(sy) + sx * ch, in.row(sy) + (sx + 1) * ch, out.row(y) + x * ch);
    }
  }
  return out;
}

} // namespace

image8 pil_resize(const image8& in, int width, int height, resample_filter filter) {
  return pil_resize(in, width, height, filter,
                    {0, 0, static_cast<float>(in.width), static_cast<float>(in.height)});
}

image8 pil_resize(const image8& in, int width, int height, resample_filter filter, resample_box box) {
  if (width <= 0 || height <= 0 || in.empty())
    throw error(errc::bad_request, "image", "cannot resize to " + std::to_string(width) + "x" + std::to_string(height));
  if (in.channels != 1 && in.channels != 3)
    throw error(errc::internal, "image", "resizing needs an L or RGB image");
  if (width == in.width && height == in.height && box.x0 == 0 && box.y0 == 0 && box.x1 == in.width &&
      box.y1 == in.height)
    return in;
  if (filter == resample_filter::nearest) return nearest(in, width, height, box);
  const bool need_h = width != in.width || box.x0 != 0 || box.x1 != width;
  const bool need_v = height != in.height || box.y0 != 0 || box.y1 != height;
  const coefficients ch = precompute(in.width, box.x0, box.x1, width, filter);
  coefficients cv = precompute(in.height, box.y0, box.y1, height, filter);
  image8 out = in;
  if (need_h) {
    // Only the rows the vertical pass reads, as Pillow does; the shifted bounds follow them.
    const int first = cv.bounds[0];
    const int last = cv.bounds[static_cast<std::size_t>(height) * 2 - 2] + cv.bounds[static_cast<std::size_t>(height) * 2 - 1];
    image8 band(in.width, last - first, in.channels);
    std::copy(in.row(first), in.row(first) + static_cast<std::size_t>(last - first) * in.width * in.channels,
              band.pixels.begin());
    for (int i = 0; i < height; ++i) cv.bounds[static_cast<std::size_t>(i) * 2] -= first;
    out = horizontal(band, width, ch);
  }
  if (need_v) out = vertical(out, height, cv);
  return out;
}

void paste(image8& dest, const image8& src, int x, int y) {
  if (dest.channels != src.channels) throw error(errc::internal, "image", "paste needs images of one mode");
  const int x0 = std::max(0, x), y0 = std::max(0, y);
  const int x1 = std::min(dest.width, x + src.width), y1 = std::min(dest.height, y + src.height);
  if (x0 >= x1 || y0 >= y1) return;
  const int ch = dest.channels;
  for (int yy = y0; yy < y1; ++yy) {
    std::copy(src.row(yy - y) + (x0 - x) * ch, src.row(yy - y) + (x1 - x) * ch, dest.row(yy) + x0 * ch);
  }
}

image8 a1111_resize_image(int mode, const image8& source, int width, int height, const std::string& upscaler,
                          const model_upscale_use& use) {
  const image8 im = source.channels == 1 ? source : to_rgb(source);
  // resize_image's resize(): an upscaler first for RGB images, Lanczos alone for L ones.
  const auto lanczos_to = [&](const image8& i, int w, int h) {
    if (upscaler == "None" || i.channels == 1) return pil_resize(i, w, h, resample_filter::lanczos);
    return a1111_upscale_image(i, w, h, upscaler, use);
  };
  if (mode == 0) return lanczos_to(im, width, height);
  const double ratio = static_cast<double>(width) / height;
  const double src_ratio = static_cast<double>(im.width) / im.height;
  int src_w, src_h;
  if (mode == 1) {
    src_w = ratio > src_ratio ? width : im.width * height / im.height;
    src_h = ratio <= src_ratio ? height : im.height * width / im.width;
  } else {
    src_w = ratio < src_ratio ? width : im.width * height / im.height;
    src_h = ratio >= src_ratio ? height : im.height * width / im.width;
  }
  const image8 resized = to_rgb(lanczos_to(im, src_w, src_h));
  image8 res(width, height, 3);
  paste(res, resized, width / 2 - src_w / 2, height / 2 - src_h / 2);
  if (mode == 1) return res;
  // The bands: PIL's default (bicubic) resize of an empty box at the edge row or column.
  const auto rw = static_cast<float>(resized.width), rh = static_cast<float>(resized.height);
  if (ratio < src_ratio) {
    const int fill = height / 2 - src_h / 2;
    if (fill > 0) {
      const auto fw = static_cast<float>(width);
      paste(res, pil_resize(resized, width, fill, resample_filter::bicubic, {0, 0, fw, 0}), 0, 0);
      paste(res, pil_resize(resized, width, fill, resample_filter::bicubic, {0, rh, fw, rh}), 0, fill + src_h);
    }
  } else if (ratio > src_ratio) {
    const int fill = width / 2 - src_w / 2;
    if (fill > 0) {
      const auto fh = static_cast<float>(height);
      paste(res, pil_resize(resized, fill, height, resample_filter::bicubic, {0, 0, 0, fh}), 0, 0);
      paste(res, pil_resize(resized, fill, height, resample_filter::bicubic, {rw, 0, rw, fh}), fill + src_w, 0);
    }
  }
  return res;
}

bool is_builtin_upscaler(const std::string& name) {
  return name == "None" || name == "Lanczos" || name == "Nearest";
}

image8 a1111_upscaler_upscale(const image8& source, double scale, const std::string& upscaler,
                              const model_upscale_use& use) {
  const resample_filter f = upscaler == "Nearest" ? resample_filter::nearest : resample_filter::lanczos;
  const bool resizes = upscaler == "Lanczos" || upscaler == "Nearest";
  std::shared_ptr<const model_upscaler_set> keep;
  const model_upscaler_set* models = use.models;
  if (!is_builtin_upscaler(upscaler)) {
    if (models == nullptr) {
      keep = installed_model_upscalers();
      models = keep.get();
    }
    check_upscaler_name("upscaler", upscaler, models);
  }
  image8 im = source;
  const int dest_w = static_cast<int>(std::floor(im.width * scale / 8) * 8);
  const int dest_h = static_cast<int>(std::floor(im.height * scale / 8) * 8);
  for (int pass = 0; pass < 3; ++pass) {
    // Checked before each pass; a scale of exactly 1 still makes one pass (which changes nothing).
    if (im.width >= dest_w && im.height >= dest_h && (pass > 0 || scale != 1.0)) break;
    const int w0 = im.width, h0 = im.height;
    if (resizes) {
      im = pil_resize(im, static_cast<int>(w0 * scale), static_cast<int>(h0 * scale), f);
    } else if (models != nullptr && !is_builtin_upscaler(upscaler)) {
      im = models->upscale_once(upscaler, to_rgb(im), use.tile, use.overlap);
    }
    if (im.width == w0 && im.height == h0) break;
  }
  if (im.width != dest_w || im.height != dest_h) im = pil_resize(im, dest_w, dest_h, resample_filter::lanczos);
  return im;
}

image8 a1111_upscale_image(const image8& source, int width, int height, const std::string& upscaler,
                           const model_upscale_use& use) {
  image8 im = to_rgb(source);
  if (upscaler != "None") {
    const double scale = std::max(static_cast<double>(width) / im.width, static_cast<double>(height) / im.height);
    if (scale > 1.0) im = a1111_upscaler_upscale(im, scale, upscaler, use);
  }
  if (im.width != width || im.height != height) im = pil_resize(im, width, height, resample_filter::lanczos);
  return im;
}

image8 pil_blend(const image8& a, const image8& b, float alpha) {
  if (a.width != b.width || a.height != b.height || a.channels != b.channels)
    throw error(errc::internal, "", "blend: the images differ in size or mode");
  image8 out(a.width, a.height, a.channels);
  for (std::size_t i = 0; i < a.pixels.size(); ++i) {
    // Pillow's ImagingBlend: float arithmetic, truncated to a byte (clipped outside 0..1).
    const float v = static_cast<float>(a.pixels[i]) + alpha * static_cast<float>(int(b.pixels[i]) - int(a.pixels[i]));
    if (alpha >= 0 && alpha <= 1.0f) {
      out.pixels[i] = static_cast<std::uint8_t>(v);
    } else {
      out.pixels[i] = v <= 0 ? 0 : v >= 255 ? 255 : static_cast<std::uint8_t>(v);
    }
  }
  return out;
}

} // namespace sdw
