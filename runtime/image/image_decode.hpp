#pragma once
/// The images requests carry (img2img init images and masks, png-info, extras): PNG, JPEG and WebP,
/// opened the way A1111 opens them with PIL, so the pixels that reach the model are the same.

#include "runtime/image/image8.hpp"

#include <map>
#include <string>

namespace sdw {

/// The largest image accepted: PIL's own decompression-bomb limit (89,478,485 pixels), and at
/// most 16384 pixels on a side.
constexpr long long max_image_pixels = 89478485;

/// Decodes PNG, JPEG or WebP bytes into what A1111 works with after images.read / fix_image:
/// JPEG turned upright by its EXIF orientation; a palette PNG with per-entry alpha becomes RGBA
/// (a single transparent entry, like a colour key of an RGB or gray PNG, is ignored, as PIL does);
/// 16-bit samples keep their high byte. Gray stays gray (1 or 2 channels), RGB 3, RGBA 4.
/// Anything else, or corrupt, truncated or oversized data → sdw::error(bad_request, field, ...).
image8 decode_image(const std::string& bytes, const std::string& field);

/// An image and, for a PNG, its text chunks (what PIL's `info` holds as strings).
struct image_with_text {
  image8 image;
  std::map<std::string, std::string> text;
};

/// decode_image that also keeps a PNG's tEXt, zTXt and iTXt chunks (none for JPEG and WebP).
image_with_text decode_image_with_text(const std::string& bytes, const std::string& field);

/// An image as the A1111 API takes it: base64, optionally behind a `data:image/...;base64,` prefix.
/// URLs are not fetched (sdw::error(bad_request, field, ...) says so).
image8 decode_base64_image(const std::string& text, const std::string& field);

} // namespace sdw
