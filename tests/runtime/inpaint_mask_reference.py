"""What A1111 1.9.4's inpainting makes of its images, computed with the libraries it runs (Pillow
9.5, OpenCV 4, numpy): create_binary_mask, the mask blur, masking.get_crop_region /
expand_crop_region, crops, the doubled overlay mask, the overlay, masking.fill, apply_overlay and
the latent mask.

usage: inpaint_mask_reference.py OUT_DIR
Writes OUT_DIR/<name>.png inputs and OUT_DIR/manifest.txt, one case a line:
`case op input1 input2 arg...` (`-` for no second input). The expected result is <case>.png (an
image), <case>.txt (a box: x1 y1 x2 y2) or <case>.f32 (float32 values, row-major).
"""
import os
import sys

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps


# --- A1111 1.9.4, modules/processing.py and modules/masking.py -------------------------------------

def create_binary_mask(image, round=True):
    if image.mode == "RGBA" and image.getextrema()[-1] != (255, 255):
        alpha = image.split()[-1].convert("L")
        return alpha.point(lambda x: 255 if x > 128 else 0) if round else alpha
    return image.convert("L")


def blur_mask(image_mask, blur_x, blur_y):
    if blur_x > 0:
        k = 2 * int(2.5 * blur_x + 0.5) + 1
        image_mask = Image.fromarray(cv2.GaussianBlur(np.array(image_mask), (k, 1), blur_x))
    if blur_y > 0:
        k = 2 * int(2.5 * blur_y + 0.5) + 1
        image_mask = Image.fromarray(cv2.GaussianBlur(np.array(image_mask), (1, k), blur_y))
    return image_mask


def get_crop_region(mask, pad=0):
    # The numpy scan of 1.9.4: columns and rows that are all zero, counted from each side.
    h, w = mask.shape
    left = next((i for i in range(w) if not (mask[:, i] == 0).all()), w)
    right = next((i for i in range(w) if not (mask[:, w - 1 - i] == 0).all()), w)
    top = next((i for i in range(h) if not (mask[i] == 0).all()), h)
    bottom = next((i for i in range(h) if not (mask[h - 1 - i] == 0).all()), h)
    return (int(max(left - pad, 0)), int(max(top - pad, 0)),
            int(min(w - right + pad, w)), int(min(h - bottom + pad, h)))


def expand_crop_region(crop_region, processing_width, processing_height, image_width, image_height):
    x1, y1, x2, y2 = crop_region
    ratio_crop_region = (x2 - x1) / (y2 - y1)
    ratio_processing = processing_width / processing_height

    def grow(lo, hi, diff, size):
        lo -= diff // 2
        hi += diff - diff // 2
        if hi >= size:
            over = hi - size
            hi -= over
            lo -= over
        if lo < 0:
            hi -= lo
            lo -= lo
        if hi >= size:
            hi = size
        return lo, hi

    if ratio_crop_region > ratio_processing:
        desired_height = (x2 - x1) / ratio_processing
        y1, y2 = grow(y1, y2, int(desired_height - (y2 - y1)), image_height)
    else:
        desired_width = (y2 - y1) * ratio_processing
        x1, x2 = grow(x1, x2, int(desired_width - (x2 - x1)), image_width)
    return x1, y1, x2, y2


def double_mask(mask):
    return Image.fromarray(np.clip(np.array(mask).astype(np.float32) * 2, 0, 255).astype(np.uint8))


def make_overlay(image, mask_for_overlay):
    image_masked = Image.new("RGBa", (image.width, image.height))
    image_masked.paste(image.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(mask_for_overlay.convert("L")))
    return image_masked.convert("RGBA")


def fill(image, mask):
    image_mod = Image.new("RGBA", (image.width, image.height))
    image_masked = Image.new("RGBa", (image.width, image.height))
    image_masked.paste(image.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(mask.convert("L")))
    image_masked = image_masked.convert("RGBa")
    for radius, repeats in [(256, 1), (64, 1), (16, 2), (4, 4), (2, 2), (0, 1)]:
        blurred = image_masked.filter(ImageFilter.GaussianBlur(radius)).convert("RGBA")
        for _ in range(repeats):
            image_mod.alpha_composite(blurred)
    return image_mod.convert("RGB")


def resize_image_mode1(im, width, height):
    # images.resize_image(1, ...) without an upscaler: scale to cover, crop the centre.
    ratio = width / height
    src_ratio = im.width / im.height
    src_w = width if ratio > src_ratio else im.width * height // im.height
    src_h = height if ratio <= src_ratio else im.height * width // im.width
    resized = im.resize((src_w, src_h), resample=Image.LANCZOS)
    res = Image.new("RGB", (width, height))
    res.paste(resized, box=(width // 2 - src_w // 2, height // 2 - src_h // 2))
    return res


def apply_overlay(image, paste_loc, overlay):
    if paste_loc is not None:
        x, y, w, h = paste_loc
        base = Image.new("RGBA", (overlay.width, overlay.height))
        base.paste(resize_image_mode1(image, w, h), (x, y))
        image = base
    image = image.convert("RGBA")
    image.alpha_composite(overlay)
    return image.convert("RGB")


def latent_mask(init_mask, w, h, round):
    latmask = init_mask.convert("RGB").resize((w, h))
    latmask = np.moveaxis(np.array(latmask, dtype=np.float32), 2, 0) / 255
    latmask = latmask[0]
    if round:
        latmask = np.around(latmask)
    return latmask.astype(np.float32)


# --- inputs ----------------------------------------------------------------------------------------

def picture(rng, w, h):
    base = rng.integers(0, 256, size=(h // 4 + 2, w // 4 + 2, 3)).astype(np.uint8)
    arr = np.array(Image.fromarray(base).resize((w, h), Image.BILINEAR)).astype(int)
    return Image.fromarray(np.clip(arr + rng.integers(-30, 31, size=arr.shape), 0, 255).astype(np.uint8))


def blob_mask(rng, w, h, soft, edge=False):
    # Ellipses painted white; `soft` adds gray levels, `edge` makes one touch the border.
    im = Image.new("L", (w, h))
    d = ImageDraw.Draw(im)
    for _ in range(2):
        x, y = rng.integers(0, w), rng.integers(0, h)
        rx, ry = rng.integers(1, max(2, w // 3)), rng.integers(1, max(2, h // 3))
        d.ellipse((x - rx, y - ry, x + rx, y + ry), fill=255)
    if edge:
        d.rectangle((w - max(1, w // 5), 0, w, h // 2), fill=255)
    if soft:
        arr = np.array(im).astype(int) * rng.integers(60, 101, size=(h, w)) // 100
        im = Image.fromarray(arr.astype(np.uint8))
    return im


def alpha_mask(rng, w, h):
    # A Gradio-style sketch mask: RGBA whose alpha carries the strokes, with partial alpha.
    arr = np.zeros((h, w, 4), np.uint8)
    arr[..., :3] = rng.integers(0, 256, size=(h, w, 3))
    arr[..., 3] = np.array(blob_mask(rng, w, h, soft=True))
    return Image.fromarray(arr, "RGBA")


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(11)
    inputs = {}
    lines = []

    def add_input(name, im):
        inputs[name] = im
        im.save(os.path.join(out, name))
        return name

    def case(name, op, in1, in2, args, result):
        lines.append(" ".join([name, op, in1, in2 or "-"] + [str(a) for a in args]))
        if isinstance(result, Image.Image):
            result.save(os.path.join(out, name + ".png"))
        elif isinstance(result, np.ndarray):
            result.astype("<f4").tofile(os.path.join(out, name + ".f32"))
        else:
            with open(os.path.join(out, name + ".txt"), "w") as f:
                f.write(" ".join(str(v) for v in result))

    sizes = [(37, 23), (64, 64), (5, 3), (1, 17), (17, 1), (2, 2), (40, 64), (23, 37), (130, 97)]
    masks = {}
    for w, h in sizes:
        tag = f"{w}x{h}"
        masks[tag] = [
            add_input(f"hard_{tag}.png", blob_mask(rng, w, h, soft=False)),
            add_input(f"soft_{tag}.png", blob_mask(rng, w, h, soft=True, edge=True)),
            add_input(f"alpha_{tag}.png", alpha_mask(rng, w, h)),
            add_input(f"blank_{tag}.png", Image.new("L", (w, h))),
        ]
        add_input(f"opaque_{tag}.png", alpha_mask(rng, w, h).convert("RGB").convert("RGBA"))
        add_input(f"rgbmask_{tag}.png", Image.merge("RGB", [blob_mask(rng, w, h, True)] * 3))
        add_input(f"image_{tag}.png", picture(rng, w, h))
        full = np.full((h, w, 4), 255, np.uint8)
        full[..., 3] = 0
        add_input(f"clear_{tag}.png", Image.fromarray(full, "RGBA"))

    def opened(name):
        im = Image.open(os.path.join(out, name))
        im.load()
        return im

    for w, h in sizes:
        tag = f"{w}x{h}"
        mask_names = masks[tag] + [f"opaque_{tag}.png", f"rgbmask_{tag}.png", f"clear_{tag}.png"]
        for m in mask_names:
            for r in (0, 1):
                case(f"binary_{m}_{r}", "binary", m, None, [r], create_binary_mask(opened(m), bool(r)))
            binary = create_binary_mask(opened(m), True)
            case(f"invert_{m}", "invert", m, None, [], ImageOps.invert(binary))
            case(f"double_{m}", "double", m, None, [], double_mask(opened(m)))
            for pad in (0, 1, 3, 40):
                case(f"region_{m}_{pad}", "region", m, None, [pad], get_crop_region(np.array(binary), pad))
            for lw, lh in ((max(1, w // 8), max(1, h // 8)), (8, 8), (3, 5)):
                for r in (0, 1):
                    case(f"latent_{m}_{lw}x{lh}_{r}", "latent", m, None, [lw, lh, r],
                         latent_mask(opened(m), lw, lh, bool(r)))
        # Blurs of one axis and of both, kernels larger than the image included.
        for m in masks[tag][:2]:
            binary = create_binary_mask(opened(m), True)
            for bx, by in ((1, 0), (0, 1), (4, 4), (3, 8), (16, 2), (64, 64), (25, 0), (0, 33)):
                case(f"blur_{m}_{bx}_{by}", "blur", m, None, [bx, by], blur_mask(binary, bx, by))
        image = f"image_{tag}.png"
        for m in mask_names:
            mask = create_binary_mask(opened(m), True)
            case(f"overlay_{m}", "overlay", image, m, [], make_overlay(opened(image), mask))
            case(f"fill_{m}", "fill", image, m, [], fill(opened(image), mask))
            ov = f"ov_{m}"
            add_input(ov, make_overlay(opened(image), double_mask(blur_mask(mask, 2, 2))))
            case(f"apply_{m}", "apply", image, ov, [], apply_overlay(opened(image), None, opened(ov)))
            gen = "image_5x3.png" if (w, h) != (5, 3) else "image_23x37.png"
            for x, y, pw, ph in ((0, 0, w, h), (w // 3, h // 4, max(1, w // 2), max(1, h // 2)),
                                 (w - 1, h - 1, 1, 1)):
                case(f"applyat_{m}_{x}_{y}_{pw}_{ph}", "apply", gen, ov, [x, y, x + pw, y + ph],
                     apply_overlay(opened(gen), (x, y, pw, ph), opened(ov)))

    # Every blur radius 0..64 along each axis on one mask, a 5x3 mask, and a 1-pixel-high strip.
    for m in ("soft_37x23.png", "hard_5x3.png", "soft_17x1.png", "soft_1x17.png"):
        binary = create_binary_mask(opened(m), True)
        for b in range(65):
            case(f"blurx_{m}_{b}", "blur", m, None, [b, 0], blur_mask(binary, b, 0))
            case(f"blury_{m}_{b}", "blur", m, None, [0, b], blur_mask(binary, 0, b))

    # Crop regions grown to the processing aspect ratio, in x and in y, at the borders, and the
    # crops of those regions.
    regions = [
        ((10, 5, 20, 9), 512, 512, 37, 23), ((10, 5, 14, 20), 512, 512, 37, 23),
        ((0, 0, 30, 4), 64, 64, 37, 23), ((30, 18, 37, 23), 512, 768, 37, 23),
        ((33, 0, 37, 23), 768, 512, 37, 23), ((0, 10, 37, 12), 512, 512, 37, 23),
        ((1, 1, 2, 2), 512, 512, 5, 3), ((0, 0, 5, 3), 512, 512, 5, 3), ((3, 0, 5, 1), 640, 360, 5, 3),
        ((20, 20, 44, 30), 512, 704, 64, 64), ((50, 2, 64, 62), 1024, 512, 64, 64),
        ((5, 7, 12, 9), 96, 40, 64, 64), ((7, 3, 9, 61), 40, 96, 64, 64), ((0, 0, 1, 17), 8, 8, 1, 17),
    ]
    for i, (box, pw, ph, iw, ih) in enumerate(regions):
        case(f"expand_{i}", "expand", "-", None, list(box) + [pw, ph, iw, ih],
             expand_crop_region(box, pw, ph, iw, ih))
    for i, (box, pw, ph, iw, ih) in enumerate(regions):
        im = f"image_{iw}x{ih}.png"
        ex = expand_crop_region(box, pw, ph, iw, ih)
        case(f"crop_{i}", "crop", im, None, list(ex), opened(im).crop(ex))
        case(f"cropmask_{i}", "crop", f"soft_{iw}x{ih}.png", None, list(ex), opened(f"soft_{iw}x{ih}.png").crop(ex))

    with open(os.path.join(out, "manifest.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
