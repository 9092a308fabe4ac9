"""What PIL (Pillow 9.5, as A1111 1.9.4 pins it) makes of request images: the inputs A1111's img2img
opens (PNG with and without alpha, palettes with tRNS, JPEG with EXIF orientation, gray JPEG, WebP),
after images.read/fix_image, images.flatten and images.resize_image in modes 0-2, and the default
bicubic resize of an empty box that resize mode 2 fills its bands with.

usage: pil_reference.py OUT_DIR
Writes OUT_DIR/<name>.<ext> inputs, OUT_DIR/<case>.raw expected pixels (8-bit, row-major) and
OUT_DIR/manifest.txt: `case input op arg width height channels` per line.
"""
import io
import os
import sys

import numpy as np
from PIL import Image, ImageOps


def fix_image(im):
    # A1111 images.fix_image: EXIF transpose, then palette/RGB PNGs with bytes transparency → RGBA.
    im = ImageOps.exif_transpose(im)
    if im.mode in ("RGB", "P") and isinstance(im.info.get("transparency"), bytes):
        im = im.convert("RGBA")
    return im


def flatten(img, bgcolor):
    # A1111 images.flatten.
    if img.mode == "RGBA":
        background = Image.new("RGBA", img.size, bgcolor)
        background.paste(img, mask=img)
        img = background
    return img.convert("RGB")


def resize_image(resize_mode, im, width, height):
    # A1111 images.resize_image with no upscaler (option upscaler_for_img2img = None).
    def resize(im, w, h):
        return im.resize((w, h), resample=Image.LANCZOS)

    if resize_mode == 0:
        return resize(im, width, height)
    ratio = width / height
    src_ratio = im.width / im.height
    if resize_mode == 1:
        src_w = width if ratio > src_ratio else im.width * height // im.height
        src_h = height if ratio <= src_ratio else im.height * width // im.width
        resized = resize(im, src_w, src_h)
        res = Image.new("RGB", (width, height))
        res.paste(resized, box=(width // 2 - src_w // 2, height // 2 - src_h // 2))
        return res
    src_w = width if ratio < src_ratio else im.width * height // im.height
    src_h = height if ratio >= src_ratio else im.height * width // im.width
    resized = resize(im, src_w, src_h)
    res = Image.new("RGB", (width, height))
    res.paste(resized, box=(width // 2 - src_w // 2, height // 2 - src_h // 2))
    if ratio < src_ratio:
        fill_height = height // 2 - src_h // 2
        if fill_height > 0:
            res.paste(resized.resize((width, fill_height), box=(0, 0, width, 0)), box=(0, 0))
            res.paste(resized.resize((width, fill_height), box=(0, resized.height, width, resized.height)),
                      box=(0, fill_height + src_h))
    elif ratio > src_ratio:
        fill_width = width // 2 - src_w // 2
        if fill_width > 0:
            res.paste(resized.resize((fill_width, height), box=(0, 0, 0, height)), box=(0, 0))
            res.paste(resized.resize((fill_width, height), box=(resized.width, 0, resized.width, height)),
                      box=(fill_width + src_w, 0))
    return res


def upscale_image(im, width, height, upscaler):
    # A1111 images.resize_image(0, ...) with a built-in upscaler (modules/upscaler.py: Upscaler.upscale,
    # UpscalerLanczos, UpscalerNearest).
    if upscaler != "None":
        scale = max(width / im.width, height / im.height)
        if scale > 1.0:
            dest_w = int((im.width * scale) // 8 * 8)
            dest_h = int((im.height * scale) // 8 * 8)
            method = Image.NEAREST if upscaler == "Nearest" else Image.LANCZOS
            for i in range(3):
                if im.width >= dest_w and im.height >= dest_h and (i > 0 or scale != 1):
                    break
                shape = (im.width, im.height)
                im = im.resize((int(im.width * scale), int(im.height * scale)), resample=method)
                if shape == (im.width, im.height):
                    break
            if im.width != dest_w or im.height != dest_h:
                im = im.resize((int(dest_w), int(dest_h)), resample=Image.LANCZOS)
    if im.width != width or im.height != height:
        im = im.resize((width, height), resample=Image.LANCZOS)
    return im


def smooth(rng, h, w, c):
    # Random but image-like content (JPEG and resampling see edges and gradients).
    base = rng.integers(0, 256, size=(h // 4 + 2, w // 4 + 2, c)).astype(np.uint8)
    img = Image.fromarray(base.squeeze(-1) if c == 1 else base).resize((w, h), Image.BILINEAR)
    arr = np.array(img)
    noise = rng.integers(-20, 21, size=arr.shape)
    return np.clip(arr.astype(int) + noise, 0, 255).astype(np.uint8)


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(7)
    inputs = {}

    inputs["rgb.png"] = Image.fromarray(smooth(rng, 37, 53, 3))
    rgba = smooth(rng, 45, 30, 4)
    rgba[..., 3] = rng.integers(0, 256, size=rgba.shape[:2])
    inputs["rgba.png"] = Image.fromarray(rgba, "RGBA")
    inputs["gray.png"] = Image.fromarray(smooth(rng, 20, 64, 1), "L")
    pal = Image.fromarray(smooth(rng, 24, 24, 3)).convert("P", palette=Image.ADAPTIVE, colors=16)
    inputs["palette_alpha.png"] = (pal, {"transparency": bytes([0, 64, 128] + [255] * 13)})
    inputs["palette_key.png"] = (pal, {"transparency": 3})
    inputs["photo.jpg"] = Image.fromarray(smooth(rng, 48, 40, 3))
    inputs["gray.jpg"] = Image.fromarray(smooth(rng, 32, 24, 1), "L")
    webp = smooth(rng, 28, 36, 4)
    inputs["alpha.webp"] = Image.fromarray(webp, "RGBA")

    for name, item in inputs.items():
        im, extra = item if isinstance(item, tuple) else (item, {})
        path = os.path.join(out, name)
        if name.endswith(".jpg"):
            exif = Image.Exif()
            exif[0x0112] = 6  # rotate 90° clockwise to display
            im.save(path, quality=90, exif=exif.tobytes())
        elif name.endswith(".webp"):
            im.save(path, lossless=True)
        else:
            im.save(path, **extra)

    cases = []
    for name in inputs:
        opened = fix_image(Image.open(os.path.join(out, name)))
        opened.load()
        flat = flatten(opened, "#ffffff")
        cases.append((f"{name}.flat", name, "flatten", "#ffffff", flat))
        cases.append((f"{name}.flatgray", name, "flatten", "#0a8", flatten(opened, "#0a8")))
        for mode in (0, 1, 2):
            for (w, h) in ((64, 48), (40, 72), (128, 128)):
                cases.append((f"{name}.m{mode}.{w}x{h}", name, f"resize{mode}", f"{w}x{h}",
                              resize_image(mode, flat, w, h)))
        if name in ("rgb.png", "photo.jpg"):
            for (w, h) in ((100, 70), (30, 20), (128, 96)):
                cases.append((f"{name}.nearest.{w}x{h}", name, "nearest", f"{w}x{h}", flat.resize((w, h), Image.NEAREST)))
            for up in ("None", "Lanczos", "Nearest"):
                # 55x38 from 53x37: the target's multiple of 8 is below the input, yet one pass runs.
                for (w, h) in ((128, 96), (90, 130), (55, 38)):
                    cases.append((f"{name}.up{up}.{w}x{h}", name, "upscale" + up, f"{w}x{h}",
                                  upscale_image(flat, w, h, up)))
        if opened.mode == "L":
            cases.append((f"{name}.mask", name, "resize0", "40x72", resize_image(0, opened, 40, 72)))
    with open(os.path.join(out, "manifest.txt"), "w") as m:
        for case, name, op, arg, im in cases:
            arr = np.array(im)
            channels = 1 if arr.ndim == 2 else arr.shape[2]
            arr.tofile(os.path.join(out, case + ".raw"))
            m.write(f"{case} {name} {op} {arg} {im.width} {im.height} {channels}\n")


if __name__ == "__main__":
    main()
