#pragma once
/// PNG encoding and decoding (libpng) with text chunks, the way A1111 stores the infotext
/// under the `parameters` key.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace sdw {

/// Encodes an 8-bit RGB image (rows top to bottom, `width*3` bytes each; RGBA with `channels` 4)
/// as PNG. Each text chunk (key, UTF-8 value) is written as tEXt when key and value are Latin-1
/// encodable, else as an uncompressed iTXt, as PIL does. Keys must be 1..79 Latin-1 characters
/// (sdw::error otherwise).
std::string encode_png(const std::uint8_t* rgb, int width, int height,
                       const std::vector<std::pair<std::string, std::string>>& text_chunks, int channels = 3);

/// A decoded image: 8 bits per sample, `channels` samples per pixel (1 gray, 2 gray+alpha, 3 RGB,
/// 4 RGBA; palettes are expanded, 16-bit samples keep their high byte; tRNS as PIL reads it: per-entry
/// palette alpha gives RGBA, a single transparent palette entry or a gray/RGB colour key is ignored),
/// rows top to bottom, plus its text chunks as UTF-8.
struct decoded_png {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<std::uint8_t> pixels;
  std::map<std::string, std::string> text;
};

/// Decodes a PNG held in memory; tEXt, zTXt and iTXt chunks are all read into `text`.
/// Corrupt or truncated data, or an image over 16384 pixels on a side →
/// sdw::error(bad_request, where, "invalid PNG: ..."). `check_size`, when set, sees the header's
/// width and height before any pixel memory is allocated, and may throw to refuse them.
decoded_png decode_png(const std::string& bytes, const std::string& where = "image",
                       const std::function<void(int width, int height)>& check_size = {});

} // namespace sdw
