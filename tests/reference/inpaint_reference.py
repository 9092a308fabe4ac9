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
(and no mask). "sampler": "DDIM" runs A1111's timestep img2img, which blends before the model.
Writes the final latents (after the blend) to `out` as raw float32.
"""
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "runtime"))

import sd1_reference as ref  # noqa: E402
from img2img_reference import automatic_sigmas, conditioning, make_denoiser, run_sampler  # noqa: E402
# A1111's mask, fill and overlay steps, as tests/runtime/inpaint_mask_test checks them byte for byte.
from inpaint_mask_reference import (apply_overlay, blur_mask, create_binary_mask, double_mask,  # noqa: E402
                                    expand_crop_region, fill, get_crop_region, latent_mask, make_overlay)
from PIL import Image, ImageOps  # noqa: E402
from pil_reference import fix_image, flatten, resize_image  # noqa: E402
from schedule_reference import Schedule, sd1_alphas_cumprod  # noqa: E402
from timestep_reference import ddim, timesteps_for  # noqa: E402


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


def ddim_img2img(case, x0, noise, keep, nkeep, cond, uncond, draw):
    """CompVisSampler.sample_img2img with DDIM (eta 0): the init latents noised to timesteps[t_enc] in
    one go, then DDIM over timesteps[:t_enc]; CFGDenoiserTimesteps blends the original into the model's
    input (mask_before_denoising) and guides the eps."""
    ac = sd1_alphas_cumprod()
    steps, t_enc = case["steps"], int(min(case["denoising_strength"], 0.999) * case["steps"])
    timesteps = timesteps_for(steps)
    a = ac[timesteps[t_enc]]
    xi = x0 * torch.sqrt(a) + noise * torch.sqrt(1 - a)
    n = x0.shape[0]

    class Model:
        def eps(self, x, t):
            x = x * nkeep + x0 * keep
            e = ref.unet(torch.cat([x, x]), torch.cat([t, t]), torch.cat([cond, uncond]), case["heads_unet"])
            c, u = e[:n], e[n:]
            return u + (c - u) * case["cfg_scale"]

        def randn_like(self, x):
            return draw()

    return ddim(Model(), xi, ac, timesteps[:t_enc], 0.0)


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
    mask = create_binary_mask(fix_image(Image.open(case["mask"])), case["mask_round"])
    if case["inpainting_mask_invert"]:
        mask = ImageOps.invert(mask)
    mask = blur_mask(mask, case["mask_blur_x"], case["mask_blur_y"])
    region, paste_to = None, None
    if case["inpaint_full_res"]:
        mask_for_overlay = mask
        region = get_crop_region(np.array(mask), case["inpaint_full_res_padding"])
        region = expand_crop_region(region, w, h, mask.width, mask.height)
        image_mask = resize_image(2, mask.crop(region), w, h).convert("L")
        paste_to = (region[0], region[1], region[2] - region[0], region[3] - region[1])
    else:
        image_mask = resize_image(mode, mask, w, h).convert("L")
        mask_for_overlay = double_mask(image_mask)

    # The pixel stage, per init image.
    arrays, overlays = [], []
    for path in case["init"]:
        im = flatten(fix_image(Image.open(path)), "#ffffff")
        if region is None and mode != 3:
            im = resize_image(mode, im, w, h)
        if mask_for_overlay.size != im.size:
            mask_for_overlay = resize_image(mode, mask_for_overlay, im.width, im.height).convert("L")
        overlays.append(make_overlay(im, mask_for_overlay))
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
        lat = latent_mask(image_mask, shape[2], shape[1], case["mask_round"])
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
        if case["sampler"] == "DDIM":
            out = ddim_img2img(case, x0, noise, keep, nkeep, cond, uncond, draw)
        elif case.get("inpainting_model"):
            base = hybrid_denoiser(sched, cond, uncond, image_cond, case)
        else:
            base = make_denoiser(sched, cond, uncond, case)
        if case["sampler"] != "DDIM":
            blended = lambda x, sigma, **kw: base(x, sigma, **kw) * nkeep + x0 * keep  # noqa: E731
            out = run_sampler(case["sampler"], blended, x0 + noise * sigmas[0], sigmas, draw)
        out = out * nkeep + x0 * keep
        out.numpy().astype(np.float32).tofile(case["out"])

        for k in range(n):
            x = torch.clamp((ref.vae_decode(out[k:k + 1], 0.18215)[0] + 1.0) / 2.0, min=0.0, max=1.0)
            im = Image.fromarray((255. * np.moveaxis(x.numpy(), 0, 2)).astype(np.uint8))
            apply_overlay(im, paste_to, overlays[k]).save(f"{case['images']}{k}.png")
            opaque = np.array(overlays[k])[:, :, 3] == 255
            Image.fromarray(opaque.astype(np.uint8) * 255).save(f"{case['images']}{k}.keep.png")


if __name__ == "__main__":
    main()
