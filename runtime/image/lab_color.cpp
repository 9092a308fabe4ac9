// Built with -ffp-contract=off: the tables round each float and double step on its own, as
// OpenCV's soft-float arithmetic does; a fused multiply-add would not.
#include "runtime/image/lab_color.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace sdw {
namespace {

// OpenCV's sRGB → XYZ matrix and D65 white point; XYZ → sRGB is its published inverse, rounded.
constexpr double rgb_to_xyz[3][3] = {{0.412453, 0.357580, 0.180423},
                                     {0.212671, 0.715160, 0.072169},
                                     {0.019334, 0.119193, 0.950227}};
constexpr double xyz_to_rgb[3][3] = {{3.240479, -1.53715, -0.498535},
                                     {-0.969256, 1.875991, 0.041556},
                                     {0.055648, -0.204043, 1.057311}};
constexpr double white[3] = {0.950456, 1.0, 1.088754};

// Fixed-point layout: matrices carry 12 fraction bits, linear RGB 3 more bits than 8 (so 255·8 is
// 1), f(t) 15 bits on the way in; on the way back f and Y carry 14 bits and linear RGB 12.
constexpr int coeff_shift = 12;
constexpr int gamma_shift = 3;
constexpr int f_shift = 15;
constexpr int base_shift = 14;
constexpr int base = 1 << base_shift;
constexpr int inv_gamma_size = 1 << 12;

/// cvRound: to nearest, ties to even (the default rounding mode).
int round_even(double v) { return static_cast<int>(std::nearbyint(v)); }

/// CV_DESCALE: a rounding right shift.
int descale(int v, int n) { return (v + (1 << (n - 1))) >> n; }

std::uint8_t saturate(int v) { return static_cast<std::uint8_t>(std::clamp(v, 0, 255)); }

/// The sRGB transfer curve and its inverse on [0, 1], in double, rounded to float.
float srgb_to_linear(float v) {
  const double x = v;
  if (x <= 809.0 / 20000.0) return static_cast<float>(x / (323.0 / 25.0));
  return static_cast<float>(std::pow((x + 11.0 / 200.0) / (1.0 + 11.0 / 200.0), 12.0 / 5.0));
}
float linear_to_srgb(float v) {
  const double x = v;
  if (x <= 7827.0 / 2500000.0) return static_cast<float>(x * (323.0 / 25.0));
  const double p = std::pow(x, 1.0 / (12.0 / 5.0));
  const double scaled = p * (1.0 + 11.0 / 200.0);
  return static_cast<float>(scaled - 11.0 / 200.0);
}

/// OpenCV's float cube root of t > 0: Turkowski's quartic rational approximation ("Computing the
/// Cube Root", 1998) of ∛m for m in [1/8, 1), evaluated in double, its mantissa cut (not rounded)
/// to float. A correctly rounded ∛ differs in a few entries of the f table.
float turkowski_cbrt(float t) {
  int e = 0;
  const double m = std::frexp(static_cast<double>(t), &e);  // t = m·2^e, m in [1/2, 1)
  const int r = e % 3 == 0 ? 0 : (e % 3 + 3) % 3 - 3;          // e − r a multiple of 3
  const double x = std::ldexp(m, r);                           // in [1/8, 1)
  const double num = (((45.2548339756803 * x + 192.2798368355061) * x + 119.16548242855816) * x +
                      13.432501390862399) * x + 0.16361612265857542;
  const double den = (((14.808840932191346 * x + 151.97140510444356) * x + 168.52544141015682) * x +
                      33.99059413502156) * x + 1.0;
  const double c = num / den;  // ∛x, in [1/2, 1)
  float f = static_cast<float>(c);
  if (f > c) f = std::nextafter(f, 0.0f);
  return std::ldexp(f, (e - r) / 3);
}

/// CIE f(t) in float: the cube root above (6/29)³, the fused line t·(29/6)²/3 + 4/29 below.
float lab_f(float t) {
  static const float threshold = 216.0f / 24389.0f, slope = 841.0f / 108.0f, offset = 16.0f / 116.0f;
  if (t < threshold) return std::fma(t, slope, offset);
  return turkowski_cbrt(t);
}

struct rgb_to_lab_tables {
  std::array<int, 256> linear{};  // sRGB byte → linear light, 255·8 = 1
  std::vector<int> f;             // X/Xn (up to 1.5) · 255·8 → f(X/Xn) · 2^15
  int coeffs[9];                  // rgb_to_xyz rows divided by the white point, · 2^12

  rgb_to_lab_tables() : f((256 * 3 / 2) << gamma_shift) {
    const float linear_scale = 255 << gamma_shift;
    for (int i = 0; i < 256; ++i)
      linear[i] = round_even(linear_scale * srgb_to_linear(static_cast<float>(i) / 255.0f));
    const float step = 1.0f / static_cast<float>(255 << gamma_shift);
    for (std::size_t i = 0; i < f.size(); ++i)
      f[i] = round_even(static_cast<float>(1 << f_shift) * lab_f(step * static_cast<float>(i)));
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) coeffs[i * 3 + j] = round_even((1 << coeff_shift) * rgb_to_xyz[i][j] / white[i]);
  }
};

struct lab_to_rgb_tables {
  std::array<int, 256> y{}, fy{};  // L byte → Y and f(Y), · 2^14
  std::array<std::uint8_t, inv_gamma_size> srgb{};  // linear light · 2^12 → sRGB byte
  int coeffs[9];                   // xyz_to_rgb columns times the white point, · 2^12

  lab_to_rgb_tables() {
    const float fbase = static_cast<float>(base);
    for (int i = 0; i < 256; ++i) {
      if (i <= 20) {  // L = i·100/255 ≤ 8: the linear segment, Y = L / (29/3)³
        y[i] = round_even(static_cast<float>(i * base * 20 * 9) / static_cast<float>(17 * 29 * 29 * 29));
        fy[i] = round_even(fbase * (16.0f / 116.0f + static_cast<float>(i * 5) / static_cast<float>(3 * 17 * 29)));
      } else {  // f(Y) = (L + 16) / 116, Y = f³
        const float f = static_cast<float>(i * 100 * base) / static_cast<float>(255 * 116) +
                        static_cast<float>(16 * base) / 116.0f;
        fy[i] = round_even(f);
        y[i] = round_even(f * f * f / static_cast<float>(base * base));
      }
    }
    const float step = 1.0f / static_cast<float>(inv_gamma_size);
    for (int i = 0; i < inv_gamma_size; ++i)
      srgb[i] = static_cast<std::uint8_t>(round_even(255.0f * linear_to_srgb(step * static_cast<float>(i))));
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) coeffs[i * 3 + j] = round_even((1 << coeff_shift) * xyz_to_rgb[i][j] * white[j]);
  }
};

/// f⁻¹ of a 2^14 fixed-point f, in 2^14 fixed point: integer divisions truncate as OpenCV's do.
int inverse_f(int f) {
  if (f <= 3390) return f * 108 / 841 - base * 16 / 116 * 108 / 841;  // below 6/29: (f - 16/116)·108/841
  return f * f / base * f / base;
}

void require_three_channels(const image8& image, const char* what) {
  if (image.channels != 3) throw std::invalid_argument(std::string(what) + ": a 3-channel image is needed");
}

} // namespace

image8 rgb_to_lab(const image8& rgb) {
  require_three_channels(rgb, "rgb_to_lab");
  static const rgb_to_lab_tables t;
  const int* c = t.coeffs;
  // L = 116·f(Y) − 16 and a, b = 500, 200 times differences of f, with L scaled by 255/100.
  const int l_scale = (116 * 255 + 50) / 100;
  const int l_offset = -((16 * 255 * (1 << f_shift) + 50) / 100);
  const int ab_offset = 128 << f_shift;
  image8 out(rgb.width, rgb.height, 3);
  const std::size_t n = rgb.pixels.size() / 3;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* s = &rgb.pixels[i * 3];
    const int r = t.linear[s[0]], g = t.linear[s[1]], b = t.linear[s[2]];
    const int fx = t.f[descale(r * c[0] + g * c[1] + b * c[2], coeff_shift)];
    const int fy = t.f[descale(r * c[3] + g * c[4] + b * c[5], coeff_shift)];
    const int fz = t.f[descale(r * c[6] + g * c[7] + b * c[8], coeff_shift)];
    std::uint8_t* d = &out.pixels[i * 3];
    d[0] = saturate(descale(l_scale * fy + l_offset, f_shift));
    d[1] = saturate(descale(500 * (fx - fy) + ab_offset, f_shift));
    d[2] = saturate(descale(200 * (fy - fz) + ab_offset, f_shift));
  }
  return out;
}

image8 lab_to_rgb(const image8& lab) {
  require_three_channels(lab, "lab_to_rgb");
  static const lab_to_rgb_tables t;
  const int* c = t.coeffs;
  const int shift = coeff_shift + base_shift - 12;  // back to the 12 bits of the sRGB table's index
  image8 out(lab.width, lab.height, 3);
  const std::size_t n = lab.pixels.size() / 3;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* s = &lab.pixels[i * 3];
    const int y = t.y[s[0]], fy = t.fy[s[0]];
    // (a − 128)·2^14/500 and (b − 128)·2^14/200 by OpenCV's multiply-and-shift approximations.
    const int adiv = ((5 * s[1] * 53687 + (1 << 7)) >> 13) - 128 * base / 500;
    const int bdiv = ((s[2] * 41943 + (1 << 4)) >> 9) - 128 * base / 200 + 1;
    const int x = inverse_f(fy + adiv), z = inverse_f(fy - bdiv);
    std::uint8_t* d = &out.pixels[i * 3];
    for (int k = 0; k < 3; ++k) {
      const int v = descale(c[k * 3] * x + c[k * 3 + 1] * y + c[k * 3 + 2] * z, shift);
      d[k] = t.srgb[std::clamp(v, 0, inv_gamma_size - 1)];
    }
  }
  return out;
}

} // namespace sdw
