#pragma once
/// OpenCV 4.x's 8-bit CIE Lab conversions (cv::cvtColor with COLOR_RGB2LAB / COLOR_LAB2RGB: sRGB
/// primaries and transfer curve, D65 white), bit for bit, as A1111's img2img color correction uses
/// them.

#include "runtime/image/image8.hpp"

namespace sdw {

/// OpenCV's cvtColor(COLOR_RGB2LAB) of an 8-bit RGB image: L·255/100, a + 128, b + 128 per pixel.
image8 rgb_to_lab(const image8& rgb);

/// OpenCV's cvtColor(COLOR_LAB2RGB) of such an 8-bit Lab image.
image8 lab_to_rgb(const image8& lab);

} // namespace sdw
