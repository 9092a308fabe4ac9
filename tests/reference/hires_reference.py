"""Hires fix as A1111 1.9.4 runs it (StableDiffusionProcessingTxt2Img.sample / sample_hr_pass), rebuilt
from the independent networks of sd1_reference.py, k-diffusion's samplers, torch's interpolate and PIL,
for the final latents sdworker must reproduce.

usage: hires_reference.py CASE.json
CASE.json: checkpoint, heads_unet, heads_text, width, height, steps, sampler, cfg_scale, seed,
batch_size, cond_tokens, uncond_tokens, denoising_strength, hr_scale, hr_resize_x, hr_resize_y,
hr_upscaler, hr_second_pass_steps, out, and optionally hr_checkpoint: the checkpoint A1111 switches to
after the first pass (after decoding it for a pixel upscaler); the second pass's conditioning,
encode and sampling then run on it. With "inpainting_model": true the checkpoint's UNet takes A1111's
hybrid conditioning in both passes (inpainting_mask_weight "mask_weight"). The randn source is A1111's
"CPU".
"""
import json
import sys

import numpy as np
import torch
from PIL import Image

from img2img_reference import automatic_sigmas, conditioning, make_denoiser, ref, run_sampler
from inpaint_reference import encode, hybrid_denoiser
from pil_reference import upscale_image
from schedule_reference import Schedule, sd1_alphas_cumprod

LATENT_MODES = {
    "Latent": ("bilinear", False), "Latent (antialiased)": ("bilinear", True),
    "Latent (bicubic)": ("bicubic", False), "Latent (bicubic antialiased)": ("bicubic", True),
    "Latent (nearest)": ("nearest", False), "Latent (nearest-exact)": ("nearest-exact", False),
}


def image_rng(seeds, shape):
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    return lambda: torch.stack([torch.randn(shape, generator=g) for g in gens])  # noqa: E731


def decoded_rgb(samples):
    # A1111's decode of each latent to 8-bit RGB (float32 clamp, truncation), [images, H, W, 3].
    images = []
    for z in samples:
        x = torch.clamp((ref.vae_decode(z[None], 0.18215)[0] + 1.0) / 2.0, min=0.0, max=1.0)
        images.append((255. * np.moveaxis(x.numpy(), 0, 2)).astype(np.uint8))
    return np.stack(images)


def target(case):
    w, h = case["width"], case["height"]
    rx, ry = case["hr_resize_x"], case["hr_resize_y"]
    if rx == 0 and ry == 0:
        return int(w * case["hr_scale"]), int(h * case["hr_scale"]), 0, 0
    if ry == 0:
        return rx, rx * h // w, 0, 0
    if rx == 0:
        return ry * w // h, ry, 0, 0
    tx, ty = (rx, rx * h // w) if w / h < rx / ry else (ry * w // h, ry)
    return tx, ty, (tx - rx) // 8, (ty - ry) // 8


def main():
    case = json.load(open(sys.argv[1]))
    ref.SD.update(ref.load_safetensors(case["checkpoint"]))
    torch.set_num_threads(2)
    sched = Schedule(sd1_alphas_cumprod())
    n = case["batch_size"]
    seeds = [case["seed"] + k for k in range(n)]
    inpainting, weight = case.get("inpainting_model", False), case.get("mask_weight", 1.0)
    w, h = case["width"], case["height"]

    def denoiser_with(cond, uncond, image_cond):
        if inpainting:
            return hybrid_denoiser(sched, cond, uncond, image_cond, case)
        return make_denoiser(sched, cond, uncond, case)

    def unmasked_conditioning(pixels, gen):
        # inpainting_image_conditioning with no mask: the picture taken towards 0 by the weight, encoded,
        # behind a mask channel of ones.
        latents = encode(torch.lerp(pixels, pixels * 0.0, weight), gen)
        return torch.cat([torch.ones(latents.shape[0], 1, *latents.shape[2:]), latents], dim=1)

    with torch.no_grad():
        # The first pass's noise draw leaves torch's global generator seeded with the batch's last
        # seed; an inpainting model's image conditioning, and the second pass's encodes, draw from it.
        gen = torch.Generator().manual_seed(seeds[-1])
        image_cond = None
        if inpainting:
            image_cond = unmasked_conditioning(torch.zeros(n, 3, h, w), gen)
        cond, uncond = conditioning(case, n)
        denoiser = denoiser_with(cond, uncond, image_cond)
        # First pass: txt2img.
        draw = image_rng(seeds, (4, case["height"] // 8, case["width"] // 8))
        sigmas = automatic_sigmas(sched, case["sampler"], case["steps"])
        samples = run_sampler(case["sampler"], denoiser, draw() * sigmas[0], sigmas, draw)

        tw, th, trunc_x, trunc_y = target(case)
        mode = LATENT_MODES.get(case["hr_upscaler"])
        lowres = []
        if mode is None:
            # The first pass decoded by its own model, before any switch.
            for z in samples:
                x = torch.clamp((ref.vae_decode(z[None], 0.18215)[0] + 1.0) / 2.0, min=0.0, max=1.0)
                lowres.append(Image.fromarray((255. * np.moveaxis(x.numpy(), 0, 2)).astype(np.uint8)))
        if case.get("hr_checkpoint"):
            ref.SD.clear()
            ref.SD.update(ref.load_safetensors(case["hr_checkpoint"]))
            cond, uncond = conditioning(case, n)
        if mode is not None:
            samples = torch.nn.functional.interpolate(samples, size=(th // 8, tw // 8), mode=mode[0], antialias=mode[1])
            if inpainting and weight < 1.0:
                image_cond = unmasked_conditioning(ref.vae_decode(samples, 0.18215), gen)
            elif inpainting:
                image_cond = unmasked_conditioning(torch.zeros(n, 3, th, tw), gen)
        else:
            # 8-bit → upscale → encode, with posterior noise from the global generator.
            pixels = []
            for im in lowres:
                im = upscale_image(im, tw, th, case["hr_upscaler"])
                pixels.append(torch.from_numpy(np.moveaxis(np.array(im).astype(np.float32) / 255.0, 2, 0)))
            pixels = torch.stack(pixels)
            samples = encode(pixels * 2 - 1, gen)
            if inpainting:
                # sample_hr_pass hands the conditioning the upscaled pixels in [0, 1].
                image_cond = unmasked_conditioning(pixels, gen)
        crop = (slice(None), slice(None), slice(trunc_y // 2, samples.shape[2] - (trunc_y + 1) // 2),
                slice(trunc_x // 2, samples.shape[3] - (trunc_x + 1) // 2))
        samples = samples[crop]
        if image_cond is not None:
            image_cond = image_cond[crop]
        denoiser = denoiser_with(cond, uncond, image_cond)

        # Second pass: img2img with the fixed-steps formula.
        draw = image_rng(seeds, tuple(samples.shape[1:]))
        noise = draw()
        requested = case["hr_second_pass_steps"] or case["steps"]
        strength = min(case["denoising_strength"], 0.999)
        steps = int(requested / strength) if strength > 0 else 0
        t_enc = requested - 1
        sigmas = automatic_sigmas(sched, case["sampler"], steps)
        sigma_sched = sigmas[steps - t_enc - 1:]
        out = run_sampler(case["sampler"], denoiser, samples + noise * sigma_sched[0], sigma_sched, draw)
    out.numpy().astype(np.float32).tofile(case["out"])


if __name__ == "__main__":
    main()
