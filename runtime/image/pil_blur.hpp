#pragma once
/// Pillow 9.5's Gaussian blur (BoxBlur.c), which A1111's masked-content fill runs at six radii.

#include "runtime/image/image8.hpp"

namespace sdw {

/// `image.filter(ImageFilter.GaussianBlur(radius))`: three passes of an extended box blur whose
/// float radius follows Gwosdek et al., rows first, then columns; the edge pixels extend outwards.
/// Every channel alike (an RGBa image is blurred premultiplied). Radius 0 copies.
image8 pil_gaussian_blur(const image8& in, float radius);

} // namespace sdw
