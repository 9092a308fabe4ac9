// blur_mask: OpenCV 4's cv::GaussianBlur on an 8-bit single-channel image, as A1111 blurs masks.
#include "runtime/image/inpaint_mask.hpp"

#include <cmath>
#include <cstdint>
#include <vector>

namespace sdw {
namespace {

/// getGaussianKernelBitExact then getGaussianKernelFixedPoint_ED with 8 fraction bits (the
/// ufixedpoint16 kernel of the 8-bit path): taps rounded with the error carried from the outside
/// in, the centre taking what makes the sum exactly 256.
std::vector<std::uint32_t> fixed_point_kernel(int n, double sigma) {
  const int half = (n - 1) / 2;
  const double scale2 = -0.125 / (sigma * sigma);
  std::vector<double> values(static_cast<std::size_t>(half));
  double sum = 0;
  for (int i = 0, x = 1 - n; i < half; ++i, x += 2) {
    values[static_cast<std::size_t>(i)] = std::exp(static_cast<double>(x * x) * scale2);
    sum += values[static_cast<std::size_t>(i)];
  }
  sum *= 2;
  sum += 1;
  const double mul = 1 / sum;

  std::vector<std::uint32_t> kernel(static_cast<std::size_t>(n));
  double err = 0;
  std::int64_t taken = 0;
  for (int i = 0; i < half; ++i) {
    const double adjusted = values[static_cast<std::size_t>(i)] * mul * 256.0 + err;
    const auto v = static_cast<std::int64_t>(std::nearbyint(adjusted));  // cvRound: half to even
    err = adjusted - static_cast<double>(v);
    kernel[static_cast<std::size_t>(i)] = kernel[static_cast<std::size_t>(n - 1 - i)] = static_cast<std::uint32_t>(v);
    taken += v;
  }
  kernel[static_cast<std::size_t>(half)] = static_cast<std::uint32_t>(256 - 2 * taken);
  return kernel;
}

/// borderInterpolate with BORDER_REFLECT_101 (…, 2, 1 | 0, 1, 2, … | n−2, n−3, …), folding as
/// often as an index far outside a short line needs.
int reflect101(int p, int len) {
  if (len == 1) return 0;
  while (p < 0 || p >= len) p = p < 0 ? -p : 2 * (len - 1) - p;
  return p;
}

/// One separable pass along lines of `len` samples `step` apart; (sum + 128) >> 8 rounds the
/// 8.8 fixed-point result, which never exceeds 255 since the taps sum to 256.
image8 convolve(const image8& in, const std::vector<std::uint32_t>& kernel, bool along_x) {
  image8 out = in;
  const int len = along_x ? in.width : in.height, lines = along_x ? in.height : in.width;
  const std::ptrdiff_t step = along_x ? 1 : in.width, line_step = along_x ? in.width : 1;
  const int r = static_cast<int>(kernel.size()) / 2;
  for (int l = 0; l < lines; ++l) {
    const std::uint8_t* src = in.pixels.data() + l * line_step;
    std::uint8_t* dst = out.pixels.data() + l * line_step;
    for (int x = 0; x < len; ++x) {
      std::uint32_t sum = 0;
      for (int k = -r; k <= r; ++k) sum += kernel[static_cast<std::size_t>(k + r)] * src[reflect101(x + k, len) * step];
      dst[x * step] = static_cast<std::uint8_t>((sum + 128) >> 8);
    }
  }
  return out;
}

/// cv2.GaussianBlur with kernel size 2·int(2.5·blur + 0.5) + 1 along one axis and 1 along the
/// other, sigma `blur`.
image8 gaussian_blur_1d(const image8& in, int blur, bool along_x) {
  // GaussianBlur shrinks the kernel to 1 along a side of length 1, and copies when both are 1.
  if ((along_x ? in.width : in.height) <= 1) return in;
  const int n = 2 * static_cast<int>(2.5 * blur + 0.5) + 1;
  return convolve(in, fixed_point_kernel(n, blur), along_x);
}

} // namespace

image8 blur_mask(const image8& mask, int blur_x, int blur_y) {
  image8 out = mask.channels == 1 ? mask : to_gray(mask);
  if (out.empty()) return out;
  if (blur_x > 0) out = gaussian_blur_1d(out, blur_x, true);
  if (blur_y > 0) out = gaussian_blur_1d(out, blur_y, false);
  return out;
}

} // namespace sdw
