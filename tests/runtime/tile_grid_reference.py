"""What A1111 1.9.4's SD upscale does to pixels, with Pillow 9.5: the built-in upscalers'
Upscaler.upscale (modules/upscaler.py), images.split_grid and images.combine_grid, for
tests/runtime/tile_grid_test.cpp.

usage: tile_grid_reference.py OUT_DIR
Writes OUT_DIR/<case>.in.raw (the RGB input), <case>.up.raw (after the upscaler), <case>.tiles.raw
(every tile, row after row), <case>.combined.raw (combine_grid of the tiles after `shift`, below)
and OUT_DIR/manifest.txt: `case in_w in_h upscaler scale tile_w tile_h overlap up_w up_h tiles`.
"""
import math
import os
import sys
from collections import namedtuple

import numpy as np
from PIL import Image

Grid = namedtuple("Grid", ["tiles", "tile_w", "tile_h", "image_w", "image_h", "overlap"])


def upscaler_upscale(img, scale, name):
    # Upscaler.upscale with UpscalerLanczos / UpscalerNearest's do_upscale.
    dest_w = int((img.width * scale) // 8 * 8)
    dest_h = int((img.height * scale) // 8 * 8)
    method = Image.NEAREST if name == "Nearest" else Image.LANCZOS
    for i in range(3):
        if img.width >= dest_w and img.height >= dest_h and (i > 0 or scale != 1):
            break
        shape = (img.width, img.height)
        img = img.resize((int(img.width * scale), int(img.height * scale)), resample=method)
        if shape == (img.width, img.height):
            break
    if img.width != dest_w or img.height != dest_h:
        img = img.resize((int(dest_w), int(dest_h)), resample=Image.LANCZOS)
    return img


def split_grid(image, tile_w, tile_h, overlap):
    w, h = image.width, image.height
    cols = math.ceil((w - overlap) / (tile_w - overlap))
    rows = math.ceil((h - overlap) / (tile_h - overlap))
    dx = (w - tile_w) / (cols - 1) if cols > 1 else 0
    dy = (h - tile_h) / (rows - 1) if rows > 1 else 0
    grid = Grid([], tile_w, tile_h, w, h, overlap)
    for row in range(rows):
        row_images = []
        y = int(row * dy)
        if y + tile_h >= h:
            y = h - tile_h
        for col in range(cols):
            x = int(col * dx)
            if x + tile_w >= w:
                x = w - tile_w
            row_images.append([x, tile_w, image.crop((x, y, x + tile_w, y + tile_h))])
        grid.tiles.append([y, tile_h, row_images])
    return grid


def combine_grid(grid):
    def make_mask_image(r):
        r = r * 255 / grid.overlap
        r = r.astype(np.uint8)
        return Image.fromarray(r, 'L')

    mask_w = make_mask_image(np.arange(grid.overlap, dtype=np.float32).reshape((1, grid.overlap)).repeat(grid.tile_h, axis=0))
    mask_h = make_mask_image(np.arange(grid.overlap, dtype=np.float32).reshape((grid.overlap, 1)).repeat(grid.image_w, axis=1))
    combined_image = Image.new("RGB", (grid.image_w, grid.image_h))
    for y, h, row in grid.tiles:
        combined_row = Image.new("RGB", (grid.image_w, h))
        for x, w, tile in row:
            if x == 0:
                combined_row.paste(tile, (0, 0))
                continue
            combined_row.paste(tile.crop((0, 0, grid.overlap, h)), (x, 0), mask=mask_w)
            combined_row.paste(tile.crop((grid.overlap, 0, w, h)), (x + grid.overlap, 0))
        if y == 0:
            combined_image.paste(combined_row, (0, 0))
            continue
        combined_image.paste(combined_row.crop((0, 0, combined_row.width, grid.overlap)), (0, y), mask=mask_h)
        combined_image.paste(combined_row.crop((0, grid.overlap, combined_row.width, h)), (0, y + grid.overlap))
    return combined_image


def shift(tile, k):
    # Stands in for img2img: every tile changed differently, so the blending shows.
    return Image.fromarray(((np.array(tile).astype(np.int32) + 41 * k) % 256).astype(np.uint8))


def smooth(rng, h, w):
    base = rng.integers(0, 256, size=(h // 4 + 2, w // 4 + 2, 3)).astype(np.uint8)
    arr = np.array(Image.fromarray(base).resize((w, h), Image.BILINEAR)).astype(int)
    return np.clip(arr + rng.integers(-20, 21, size=arr.shape), 0, 255).astype(np.uint8)


CASES = [
    # name, input w, h, upscaler, scale, tile w, h, overlap
    ("a1111_api_test", 64, 64, "Lanczos", 2.0, 64, 64, 8),
    ("wide_tiles", 53, 37, "Lanczos", 2.5, 64, 48, 16),
    ("nearest_no_overlap", 50, 40, "Nearest", 3, 64, 64, 0),
    ("none_smaller_than_a_tile", 40, 30, "None", 2.0, 64, 64, 8),
    ("scale_one_rounds_to_eight", 100, 70, "Lanczos", 1.0, 48, 32, 24),
    ("downscale", 96, 88, "Lanczos", 0.5, 24, 16, 8),
    ("big_overlap", 72, 64, "Lanczos", 2.0, 64, 56, 48),
]


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(11)
    with open(os.path.join(out, "manifest.txt"), "w") as m:
        for name, w, h, upscaler, scale, tw, th, overlap in CASES:
            img = Image.fromarray(smooth(rng, h, w))
            np.array(img).tofile(os.path.join(out, name + ".in.raw"))
            up = img if upscaler == "None" else upscaler_upscale(img, scale, upscaler)
            np.array(up).tofile(os.path.join(out, name + ".up.raw"))
            grid = split_grid(up, tw, th, overlap)
            tiles = [t for _, _, row in grid.tiles for t in row]
            with open(os.path.join(out, name + ".tiles.raw"), "wb") as f:
                for t in tiles:
                    f.write(np.array(t[2]).tobytes())
            for k, t in enumerate(tiles):
                t[2] = shift(t[2], k)
            np.array(combine_grid(grid)).tofile(os.path.join(out, name + ".combined.raw"))
            m.write(f"{name} {w} {h} {upscaler} {scale} {tw} {th} {overlap} {up.width} {up.height} {len(tiles)}\n")


if __name__ == "__main__":
    main()
