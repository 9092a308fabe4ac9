// Built with -ffp-contract=off: A1111's numpy rounds every double operation on its own.
#include "runtime/image/color_correction.hpp"

#include "runtime/image/lab_color.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace sdw {
namespace {

/// np.interp at one point: xp strictly increasing, fp its values; outside the range, the end values.
double interpolate(double x, const std::vector<double>& xp, const std::vector<double>& fp) {
  const std::size_t n = xp.size();
  if (x <= xp.front()) return fp.front();
  if (x >= xp.back()) return fp.back();
  const std::size_t j = static_cast<std::size_t>(std::upper_bound(xp.begin(), xp.end(), x) - xp.begin()) - 1;
  if (j + 1 >= n || xp[j] == x) return fp[j];
  const double slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
  return slope * (x - xp[j]) + fp[j];
}

/// The 8-bit value a double becomes in a uint8 array (numpy's cast truncates; NaN gives 0 there).
std::uint8_t to_byte(double v) {
  if (!(v >= 0)) return 0;
  return static_cast<std::uint8_t>(std::min(v, 255.0));
}

double luminosity(double r, double g, double b) { return r * 0.299 + g * 0.587 + b * 0.114; }

} // namespace

image8 match_histograms(const image8& image, const image8& reference) {
  if (image.channels != reference.channels)
    throw std::invalid_argument("match_histograms: the images have different numbers of channels");
  const int channels = image.channels;
  const std::size_t pixels = image.pixels.size() / static_cast<std::size_t>(channels);
  const std::size_t ref_pixels = reference.pixels.size() / static_cast<std::size_t>(channels);
  image8 out = image;
  for (int c = 0; c < channels; ++c) {
    std::array<std::int64_t, 256> counts{}, ref_counts{};
    for (std::size_t i = 0; i < pixels; ++i) ++counts[image.pixels[i * channels + c]];
    for (std::size_t i = 0; i < ref_pixels; ++i) ++ref_counts[reference.pixels[i * channels + c]];
    // The reference's values that occur, at their cumulative quantiles.
    std::vector<double> ref_quantiles, ref_values;
    std::int64_t cumulative = 0;
    for (int v = 0; v < 256; ++v) {
      if (ref_counts[v] == 0) continue;
      cumulative += ref_counts[v];
      ref_quantiles.push_back(static_cast<double>(cumulative) / static_cast<double>(ref_pixels));
      ref_values.push_back(v);
    }
    std::array<std::uint8_t, 256> mapped{};
    cumulative = 0;
    for (int v = 0; v < 256; ++v) {
      cumulative += counts[v];
      if (counts[v] == 0) continue;
      const double quantile = static_cast<double>(cumulative) / static_cast<double>(pixels);
      mapped[v] = to_byte(interpolate(quantile, ref_quantiles, ref_values));
    }
    for (std::size_t i = 0; i < pixels; ++i) {
      std::uint8_t& p = out.pixels[i * channels + c];
      p = mapped[p];
    }
  }
  return out;
}

image8 luminosity_blend(const image8& background, const image8& foreground) {
  if (background.channels != 3 || foreground.channels != 3 || background.width != foreground.width ||
      background.height != foreground.height)
    throw std::invalid_argument("luminosity_blend: two RGB images of one size are needed");
  image8 out = background;
  const std::size_t pixels = background.pixels.size() / 3;
  for (std::size_t i = 0; i < pixels; ++i) {
    const std::uint8_t* b = &background.pixels[i * 3];
    const std::uint8_t* f = &foreground.pixels[i * 3];
    const double wanted = luminosity(f[0] / 255.0, f[1] / 255.0, f[2] / 255.0);
    std::array<double, 3> c{b[0] / 255.0, b[1] / 255.0, b[2] / 255.0};
    const double delta = wanted - luminosity(c[0], c[1], c[2]);
    for (double& v : c) v += delta;
    // ClipColor: pulled towards the luminosity until every channel is in range. The upper clip
    // reads the channels as the lower one left them, and the extremes from before either.
    const double lum = luminosity(c[0], c[1], c[2]);
    const double low = std::min({c[0], c[1], c[2]});
    const double high = std::max({c[0], c[1], c[2]});
    if (low < 0) {
      for (double& v : c) v = lum + ((v - lum) * lum) / (lum - low);
    }
    if (high > 1) {
      for (double& v : c) v = lum + ((v - lum) * (1 - lum)) / (high - lum);
    }
    for (int k = 0; k < 3; ++k) {
      const double clipped = std::isnan(c[k]) ? c[k] : std::clamp(c[k], 0.0, 1.0);
      out.pixels[i * 3 + k] = to_byte(clipped * 255);
    }
  }
  return out;
}

image8 apply_color_correction(const image8& target, const image8& generated) {
  const image8 matched = lab_to_rgb(match_histograms(rgb_to_lab(generated), target));
  return luminosity_blend(matched, generated);
}

} // namespace sdw
