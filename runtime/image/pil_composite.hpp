#pragma once
/// Pillow 9.5's pixel arithmetic for premultiplied ("RGBa") and straight ("RGBA") images, masked
/// pastes and alpha compositing: the integer formulas of libImaging, so A1111's overlays and
/// masked-content fill come out byte for byte as Pillow makes them.

#include "runtime/image/image8.hpp"

namespace sdw {

/// `convert("RGBa")` of an RGBA image (Convert.c rgbA2rgba): colour · alpha / 255, rounded.
image8 pil_premultiply(const image8& rgba);

/// `convert("RGBA")` of an RGBa image (Convert.c rgba2rgbA): colour · 255 / alpha, truncated and
/// clipped; alpha 0 and 255 keep their colour.
image8 pil_unpremultiply(const image8& rgba);

/// `dest.paste(src, mask=mask)` with an L mask of the same size (Paste.c paste_mask_L): every
/// sample, alpha included, becomes (dest · (255 − m) + src · m) / 255, rounded.
void pil_paste_masked(image8& dest, const image8& src, const image8& mask);

/// `dest.alpha_composite(src)` for RGBA images of one size (AlphaComposite.c, 7 extra bits).
void pil_alpha_composite(image8& dest, const image8& src);

} // namespace sdw
