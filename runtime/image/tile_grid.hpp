#pragma once
/// A1111 1.9.4's image tiles (modules/images.py split_grid / combine_grid), which the "SD upscale"
/// script runs img2img over: overlapping tiles cut from an image, and the processed tiles blended
/// back along their overlaps with linear masks, as Pillow 9.5 pastes them.

#include "runtime/image/image8.hpp"

#include <vector>

namespace sdw {

/// One tile of a row: its left edge in the image (may be negative when the image is narrower than
/// a tile), its width and its pixels.
struct grid_tile {
  int x = 0;
  int w = 0;
  image8 image;
};

/// One row of tiles: its top edge (may be negative), its height and its tiles left to right.
struct grid_row {
  int y = 0;
  int h = 0;
  std::vector<grid_tile> tiles;
};

/// A1111's Grid namedtuple.
struct tile_grid {
  std::vector<grid_row> rows;
  int tile_w = 0;
  int tile_h = 0;
  int image_w = 0;
  int image_h = 0;
  int overlap = 0;

  /// The number of tiles, row after row.
  int tile_count() const;
};

/// The tile rows and columns split_grid makes of a w×h image: ceil((side − overlap) / (tile − overlap))
/// each way. Needs 0 ≤ overlap < tile_w, tile_h (else sdw::error(internal)).
struct grid_shape {
  int cols = 0;
  int rows = 0;
};
grid_shape split_grid_shape(int image_w, int image_h, int tile_w, int tile_h, int overlap);

/// PIL's `im.crop((x0, y0, x1, y1))`: the box's pixels, zero (black) where it leaves the image.
image8 pil_crop(const image8& in, int x0, int y0, int x1, int y1);

/// PIL's `dest.paste(src, (x, y), mask)` with an "L" mask of src's size: each sample becomes
/// (dest·(255 − m) + src·m) / 255 rounded as Pillow's integer blend; what lands outside is dropped.
void pil_paste_masked(image8& dest, const image8& src, int x, int y, const image8& mask);

/// split_grid(image, tile_w, tile_h, overlap): tiles of tile_w×tile_h spread evenly so that the
/// last one ends at the image's edge. RGB or L in; the tiles have the image's channels.
tile_grid split_grid(const image8& image, int tile_w, int tile_h, int overlap);

/// combine_grid(grid): each row assembled from its tiles, the first `overlap` columns of every tile
/// but the first blended over its left neighbour with a mask rising 0..255·(overlap−1)/overlap, then
/// the rows stacked likewise with a mask rising downwards. RGB tiles in, an RGB image_w×image_h out.
image8 combine_grid(const tile_grid& grid);

} // namespace sdw
