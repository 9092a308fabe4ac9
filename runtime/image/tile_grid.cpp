#include "runtime/image/tile_grid.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/image/resample.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

namespace sdw {
namespace {

/// combine_grid's make_mask_image: float32 i·255/overlap truncated to 8 bits, as numpy computes it.
std::uint8_t ramp(int i, int overlap) {
  return static_cast<std::uint8_t>(static_cast<float>(i) * 255.0f / static_cast<float>(overlap));
}

/// Pillow's BLEND / DIV255 (Paste.c): an exact rounding of a/255 for a in 0..255·255.
std::uint8_t blend(unsigned mask, unsigned out, unsigned in) {
  const unsigned tmp = out * (255 - mask) + in * mask + 128;
  return static_cast<std::uint8_t>(((tmp >> 8) + tmp) >> 8);
}

} // namespace

int tile_grid::tile_count() const {
  int n = 0;
  for (const auto& r : rows) n += static_cast<int>(r.tiles.size());
  return n;
}

grid_shape split_grid_shape(int image_w, int image_h, int tile_w, int tile_h, int overlap) {
  if (overlap < 0 || overlap >= tile_w || overlap >= tile_h)
    throw error(errc::internal, "overlap", "tiles need an overlap from 0 to less than their sides");
  grid_shape s;
  s.cols = static_cast<int>(std::ceil(static_cast<double>(image_w - overlap) / (tile_w - overlap)));
  s.rows = static_cast<int>(std::ceil(static_cast<double>(image_h - overlap) / (tile_h - overlap)));
  return s;
}

image8 pil_crop(const image8& in, int x0, int y0, int x1, int y1) {
  image8 out(std::max(0, x1 - x0), std::max(0, y1 - y0), in.channels);
  const int ch = in.channels;
  const int cx0 = std::max(x0, 0), cx1 = std::min(x1, in.width);
  for (int y = std::max(y0, 0); y < std::min(y1, in.height); ++y) {
    if (cx0 >= cx1) break;
    std::copy(in.row(y) + cx0 * ch, in.row(y) + cx1 * ch, out.row(y - y0) + (cx0 - x0) * ch);
  }
  return out;
}

void pil_paste_masked(image8& dest, const image8& src, int x, int y, const image8& mask) {
  if (dest.channels != src.channels || mask.channels != 1 || mask.width != src.width || mask.height != src.height)
    throw error(errc::internal, "image", "a masked paste needs images of one mode and an L mask of their size");
  const int ch = dest.channels;
  const int x0 = std::max(0, x), y0 = std::max(0, y);
  const int x1 = std::min(dest.width, x + src.width), y1 = std::min(dest.height, y + src.height);
  for (int yy = y0; yy < y1; ++yy) {
    std::uint8_t* out = dest.row(yy);
    const std::uint8_t* in = src.row(yy - y);
    const std::uint8_t* m = mask.row(yy - y);
    for (int xx = x0; xx < x1; ++xx) {
      const unsigned a = m[xx - x];
      for (int c = 0; c < ch; ++c) out[xx * ch + c] = blend(a, out[xx * ch + c], in[(xx - x) * ch + c]);
    }
  }
}

tile_grid split_grid(const image8& image, int tile_w, int tile_h, int overlap) {
  const grid_shape shape = split_grid_shape(image.width, image.height, tile_w, tile_h, overlap);
  tile_grid g;
  g.tile_w = tile_w;
  g.tile_h = tile_h;
  g.image_w = image.width;
  g.image_h = image.height;
  g.overlap = overlap;
  // Python's true division and int() truncation.
  const double dx = shape.cols > 1 ? static_cast<double>(image.width - tile_w) / (shape.cols - 1) : 0.0;
  const double dy = shape.rows > 1 ? static_cast<double>(image.height - tile_h) / (shape.rows - 1) : 0.0;
  for (int row = 0; row < shape.rows; ++row) {
    grid_row r;
    r.y = static_cast<int>(row * dy);
    if (r.y + tile_h >= image.height) r.y = image.height - tile_h;
    r.h = tile_h;
    for (int col = 0; col < shape.cols; ++col) {
      int x = static_cast<int>(col * dx);
      if (x + tile_w >= image.width) x = image.width - tile_w;
      r.tiles.push_back(grid_tile{x, tile_w, pil_crop(image, x, r.y, x + tile_w, r.y + tile_h)});
    }
    g.rows.push_back(std::move(r));
  }
  return g;
}

image8 combine_grid(const tile_grid& grid) {
  const int ov = grid.overlap;
  image8 mask_w(ov, grid.tile_h, 1);
  for (int y = 0; y < grid.tile_h; ++y) {
    for (int x = 0; x < ov; ++x) mask_w.row(y)[x] = ramp(x, ov);
  }
  image8 mask_h(grid.image_w, ov, 1);
  for (int y = 0; y < ov; ++y) std::fill(mask_h.row(y), mask_h.row(y) + grid.image_w, ramp(y, ov));

  image8 combined(grid.image_w, grid.image_h, 3);
  for (const grid_row& row : grid.rows) {
    image8 line(grid.image_w, row.h, 3);
    for (const grid_tile& t : row.tiles) {
      if (t.image.channels != 3)
        throw error(errc::internal, "image", "combine_grid needs RGB tiles");
      if (t.x == 0) {
        paste(line, t.image, 0, 0);
        continue;
      }
      pil_paste_masked(line, pil_crop(t.image, 0, 0, ov, row.h), t.x, 0, mask_w);
      paste(line, pil_crop(t.image, ov, 0, t.w, row.h), t.x + ov, 0);
    }
    if (row.y == 0) {
      paste(combined, line, 0, 0);
      continue;
    }
    pil_paste_masked(combined, pil_crop(line, 0, 0, line.width, ov), 0, row.y, mask_h);
    paste(combined, pil_crop(line, 0, ov, line.width, row.h), 0, row.y + ov);
  }
  return combined;
}

} // namespace sdw
