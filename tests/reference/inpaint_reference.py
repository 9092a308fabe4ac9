"""Inpainting as A1111 1.9.4 runs it (StableDiffusionProcessingImg2Img.init with a mask, masking.py,
the CFG denoiser's apply_blend, sample()'s final blend, apply_overlay), rebuilt from PIL, OpenCV,
numpy, the independent networks of sd1_reference.py and k-diffusion's sampling functions.

usage: inpaint_reference.py CASE.json
CASE.json: what img2img_reference.py reads, plus mask (image path), mask_blur_x, mask_blur_y,
mask_round, inpainting_fill (0-3), inpaint_full_res, inpaint_full_res_padding, inpainting_mask_invert,
and images (a path prefix: the answer's images are written as <prefix><k>.png, and beside each
<prefix><k>.keep.png, white where the overlay is opaque, i.e. where the answer is the original).
With "inpainting_model": true the checkpoint's UNet takes A1111's hybrid conditioning (mask and
masked-image latents, inpainting_mask_weight "mask_weight"); "init": [] then runs txt2img with it
(and no mask). Writes the final latents (after the blend) to `out` as raw float32.
"""
import json
import os
import sys

import cv2
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "runtime"))

import sd1_reference as ref  # noqa: E402
from img2img_reference import automatic_sigmas, conditioning, make_denoiser, run_sampler  # noqa: E402
from PIL import Image, ImageFilter, ImageOps  # noqa: E402
from pil_reference import fix_image, flatten, resize_image  # noqa: E402
from schedule_reference import Schedule, sd1_alphas_cumprod  # noqa: E402


def binary_mask(image, round_):
    if image.mode == "RGBA" and image.getextrema()[-1] != (255, 255):
        alpha = image.split()[-1].convert("L")
        return alpha.point(lambda v: 255 if v > 128 else 0) if round_ else alpha
    return image.convert("L")


def blur(mask, bx, by):
    if bx > 0:
        k = 2 * int(2.5 * bx + 0.5) + 1
        mask = Image.fromarray(cv2.GaussianBlur(np.array(mask), (k, 1), bx))
    if by > 0:
        k = 2 * int(2.5 * by + 0.5) + 1
        mask = Image.fromarray(cv2.GaussianBlur(np.array(mask), (1, k), by))
    return mask


def crop_region(mask, pad):
    a = np.array(mask)
    h, w = a.shape
    cols, rows = np.flatnonzero(a.any(axis=0)), np.flatnonzero(a.any(axis=1))
    left, right = cols[0], w - 1 - cols[-1]
    top, bottom = rows[0], h - 1 - rows[-1]
    return max(left - pad, 0), max(top - pad, 0), min(w - right + pad, w), min(h - bottom + pad, h)


def expand_region(region, pw, ph, iw, ih):
    x1, y1, x2, y2 = region
    if (x2 - x1) / (y2 - y1) > pw / ph:
        diff = int((x2 - x1) / (pw / ph) - (y2 - y1))
        y1, y2 = y1 - diff // 2, y2 + diff - diff // 2
        if y2 >= ih:
            y1, y2 = y1 - (y2 - ih), ih
        if y1 < 0:
            y1, y2 = 0, y2 - y1
        y2 = min(y2, ih)
    else:
        diff = int((y2 - y1) * (pw / ph) - (x2 - x1))
        x1, x2 = x1 - diff // 2, x2 + diff - diff // 2
        if x2 >= iw:
            x1, x2 = x1 - (x2 - iw), iw
        if x1 < 0:
            x1, x2 = 0, x2 - x1
        x2 = min(x2, iw)
    return x1, y1, x2, y2


def masked_rgba(image, mask_for_overlay):
    out = Image.new("RGBa", image.size)
    out.paste(image.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(mask_for_overlay.convert("L")))
    return out


def fill(image, mask):
    canvas = Image.new("RGBA", image.size)
    masked = masked_rgba(image, mask)
    for radius, repeats in [(256, 1), (64, 1), (16, 2), (4, 4), (2, 2), (0, 1)]:
        blurred = masked.filter(ImageFilter.GaussianBlur(radius)).convert("RGBA")
        for _ in range(repeats):
            canvas.alpha_composite(blurred)
    return canvas.convert("RGB")


def overlay(image, paste_to, over):
    if paste_to is not None:
        x, y, w, h = paste_to
        base = Image.new("RGBA", over.size)
        base.paste(resize_image(1, image, w, h), (x, y))
        image = base
    image = image.convert("RGBA")
    image.alpha_composite(over)
    return image.convert("RGB")


def encode(pixels, gen):
    """get_first_stage_encoding(encode_first_stage(x)) for x in [-1, 1], image after image."""
    out = []
    for x in pixels:
        mean, logvar = ref.vae_encode(x[None])
        out.append((mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=gen)) * 0.18215)
    return torch.cat(out)


def hybrid_denoiser(sched, cond, uncond, image_cond, case):
    """CFGDenoiser for an inpainting model: the image conditioning joins x·c_in along the channels."""
    n = cond.shape[0]

    def denoiser(x, sigma, **_):
        x_in, s_in = torch.cat([x, x]), torch.cat([sigma, sigma])
        c_in = 1 / (s_in ** 2 + 1) ** 0.5
        unet_in = torch.cat([x_in * c_in[:, None, None, None], torch.cat([image_cond, image_cond])], dim=1)
        eps = ref.unet(unet_in, sched.sigma_to_t(s_in), torch.cat([cond, uncond]), case["heads_unet"])
        den = x_in - eps * s_in[:, None, None, None]
        c, u = den[:n], den[n:]
        return u + (c - u) * case["cfg_scale"]

    return denoiser


def txt2img_inpainting_model(case):
    """txt2img with an inpainting model: txt2img_image_conditioning (a 0.5-gray image encoded, behind
    a mask channel of ones), then plain sampling from noise."""
    w, h, n = case["width"], case["height"], case["batch_size"]
    with torch.no_grad():
        # The batch's noise draw (rng.randn) seeded the global generator with each seed in turn.
        image_cond = encode(torch.zeros(n, 3, h, w), torch.Generator().manual_seed(case["seed"] + n - 1))
        image_cond = torch.nn.functional.pad(image_cond, (0, 0, 0, 0, 1, 0), value=1.0)
        shape = (4, h // 8, w // 8)
        gens = [torch.Generator().manual_seed(case["seed"] + k) for k in range(n)]
        draw = lambda: torch.stack([torch.randn(shape, generator=g) for g in gens])  # noqa: E731
        noise = draw()
        sched = Schedule(sd1_alphas_cumprod())
        sigmas = automatic_sigmas(sched, case["sampler"], case["steps"])
        cond, uncond = conditioning(case, n)
        out = run_sampler(case["sampler"], hybrid_denoiser(sched, cond, uncond, image_cond, case), noise * sigmas[0],
                          sigmas, draw)
    out.numpy().astype(np.float32).tofile(case["out"])


def main():
    case = json.load(open(sys.argv[1]))
    if not case["init"]:
        ref.SD.update(ref.load_safetensors(case["checkpoint"]))
        torch.set_num_threads(2)
        return txt2img_inpainting_model(case)
    ref.SD.update(ref.load_safetensors(case["checkpoint"]))
    torch.set_num_threads(2)
    w, h, mode = case["width"], case["height"], case["resize_mode"]

    # The mask stage of init.
    mask = binary_mask(fix_image(Image.open(case["mask"])), case["mask_round"])
    if case["inpainting_mask_invert"]:
        mask = ImageOps.invert(mask)
    mask = blur(mask, case["mask_blur_x"], case["mask_blur_y"])
    region, paste_to = None, None
    if case["inpaint_full_res"]:
        mask_for_overlay = mask
        region = expand_region(crop_region(mask, case["inpaint_full_res_padding"]), w, h, mask.width, mask.height)
        image_mask = resize_image(2, mask.crop(region), w, h).convert("L")
        paste_to = (region[0], region[1], region[2] - region[0], region[3] - region[1])
    else:
        image_mask = resize_image(mode, mask, w, h).convert("L")
        mask_for_overlay = Image.fromarray(np.clip(np.array(image_mask).astype(np.float32) * 2, 0, 255).astype(np.uint8))

    # The pixel stage, per init image.
    arrays, overlays = [], []
    for path in case["init"]:
        im = flatten(fix_image(Image.open(path)), "#ffffff")
        if region is None and mode != 3:
            im = resize_image(mode, im, w, h)
        if mask_for_overlay.size != im.size:
            mask_for_overlay = resize_image(mode, mask_for_overlay, im.width, im.height).convert("L")
        overlays.append(masked_rgba(im, mask_for_overlay).convert("RGBA"))
        if region is not None:
            im = resize_image(2, im.crop(region), w, h)
        if case["inpainting_fill"] != 1:
            im = fill(im, image_mask)
        arrays.append(np.moveaxis(np.array(im).astype(np.float32) / 255.0, 2, 0))
    if len(arrays) == 1:
        arrays, overlays = arrays * case["batch_size"], overlays * case["batch_size"]

    with torch.no_grad():
        gen = torch.Generator()  # torch's default seed, as A1111's global generator at start
        pixels = torch.from_numpy(np.stack(arrays)) * 2 - 1
        x0 = encode(pixels, gen)
        n, shape = x0.shape[0], tuple(x0.shape[1:])

        # The latent stage: the blend masks, then latent noise / latent nothing.
        lat = np.array(image_mask.convert("RGB").resize((shape[2], shape[1])), dtype=np.float32)[:, :, 0] / 255
        if case["mask_round"]:
            lat = np.around(lat)
        lat = torch.from_numpy(np.tile(lat[None], (shape[0], 1, 1)))
        keep, nkeep = 1.0 - lat, lat
        seeds = [case["seed"] + k for k in range(n)]
        if case["inpainting_fill"] == 2:
            noise = torch.stack([torch.randn(shape, generator=torch.Generator().manual_seed(s)) for s in seeds])
            x0 = x0 * keep + noise * nkeep
            gen = torch.Generator().manual_seed(seeds[-1])  # what those draws leave the global generator
        elif case["inpainting_fill"] == 3:
            x0 = x0 * keep

        if case.get("inpainting_model"):
            # inpainting_image_conditioning: the picture faded to black under the (rounded) mask by
            # inpainting_mask_weight, encoded, behind the mask at the latents' size.
            m = torch.from_numpy(np.array(image_mask.convert("L")).astype(np.float32) / 255.0)[None, None]
            if case["mask_round"]:
                m = torch.round(m)
            masked = encode(torch.lerp(pixels, pixels * (1.0 - m), case["mask_weight"]), gen)
            small = torch.nn.functional.interpolate(m, size=x0.shape[-2:]).expand(n, -1, -1, -1)
            image_cond = torch.cat([small, masked], dim=1)

        # sample(): ImageRNG noise (CPU source), the img2img schedule, the blend after each denoise.
        gens = [torch.Generator().manual_seed(s) for s in seeds]
        draw = lambda: torch.stack([torch.randn(shape, generator=g) for g in gens])  # noqa: E731
        noise = draw()
        sched = Schedule(sd1_alphas_cumprod())
        steps, t_enc = case["steps"], int(min(case["denoising_strength"], 0.999) * case["steps"])
        sigmas = automatic_sigmas(sched, case["sampler"], steps)[steps - t_enc - 1:]
        cond, uncond = conditioning(case, n)
        if case.get("inpainting_model"):
            base = hybrid_denoiser(sched, cond, uncond, image_cond, case)
        else:
            base = make_denoiser(sched, cond, uncond, case)
        blended = lambda x, sigma, **kw: base(x, sigma, **kw) * nkeep + x0 * keep  # noqa: E731
        out = run_sampler(case["sampler"], blended, x0 + noise * sigmas[0], sigmas, draw)
        out = out * nkeep + x0 * keep
        out.numpy().astype(np.float32).tofile(case["out"])

        for k in range(n):
            x = torch.clamp((ref.vae_decode(out[k:k + 1], 0.18215)[0] + 1.0) / 2.0, min=0.0, max=1.0)
            im = Image.fromarray((255. * np.moveaxis(x.numpy(), 0, 2)).astype(np.uint8))
            overlay(im, paste_to, overlays[k]).save(f"{case['images']}{k}.png")
            opaque = np.array(overlays[k])[:, :, 3] == 255
            Image.fromarray(opaque.astype(np.uint8) * 255).save(f"{case['images']}{k}.keep.png")


if __name__ == "__main__":
    main()
