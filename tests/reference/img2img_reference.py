"""img2img as A1111 1.9.4 runs it (StableDiffusionProcessingImg2Img.init/sample,
KDiffusionSampler.sample_img2img), rebuilt from PIL, the independent networks of sd1_reference.py
and k-diffusion's own sampling functions, for the latents sdworker must reproduce.

usage: img2img_reference.py CASE.json
CASE.json: checkpoint, heads_unet, heads_text, init (image paths), width, height, resize_mode,
steps, denoising_strength, fix_steps, sampler ("Euler", "Euler a", "DPM++ 2M"), cfg_scale, seed,
batch_size, noise_multiplier, cond_tokens / uncond_tokens (77 ids each), out (raw float32 path).
The randn source is A1111's "CPU"; the VAE posterior noise comes from a generator with torch's
default seed, as A1111's global generator has it for the first job after start.
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
from PIL import Image  # noqa: E402
from pil_reference import fix_image, flatten, resize_image  # noqa: E402
from schedule_reference import Schedule, make_sigmas, sd1_alphas_cumprod  # noqa: E402
from sde_sampler_reference import K  # noqa: E402


def init_latents(case):
    # images.read → fix_image → flatten → resize_image (not for resize mode 3) → float32 / 255.
    arrays = []
    for path in case["init"]:
        im = flatten(fix_image(Image.open(path)), "#ffffff")
        if case["resize_mode"] != 3:
            im = resize_image(case["resize_mode"], im, case["width"], case["height"])
        arrays.append(np.moveaxis(np.array(im).astype(np.float32) / 255.0, 2, 0))
    if len(arrays) == 1:
        arrays = arrays * case["batch_size"]
    gen = torch.Generator()  # torch's default seed, 67280421310721
    latents = []
    for a in arrays:
        mean, logvar = ref.vae_encode(torch.from_numpy(a)[None] * 2 - 1)
        z = (mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=gen)) * 0.18215
        if case["resize_mode"] == 3:
            z = torch.nn.functional.interpolate(z, size=(case["height"] // 8, case["width"] // 8), mode="bilinear")
        latents.append(z)
    return torch.cat(latents)


def conditioning(case, n):
    heads = case["heads_text"]
    cond = ref.text_model(torch.tensor([case["cond_tokens"]] * n), heads)
    uncond = ref.text_model(torch.tensor([case["uncond_tokens"]] * n), heads)
    return cond, uncond


def make_denoiser(sched, cond, uncond, case):
    n = cond.shape[0]

    def denoiser(x, sigma, **_):
        # CFGDenoiser over CompVisDenoiser: eps at t(sigma) on x·c_in, denoised = x − σ·eps.
        x_in, s_in = torch.cat([x, x]), torch.cat([sigma, sigma])
        c_in = 1 / (s_in ** 2 + 1) ** 0.5
        eps = ref.unet(x_in * c_in[:, None, None, None], sched.sigma_to_t(s_in), torch.cat([cond, uncond]),
                       case["heads_unet"])
        den = x_in - eps * s_in[:, None, None, None]
        c, u = den[:n], den[n:]
        return u + (c - u) * case["cfg_scale"]

    return denoiser


def run_sampler(sampler, denoiser, x, sigmas, draw):
    if sampler == "Euler":
        return K.sample_euler(denoiser, x, sigmas, disable=True)
    if sampler == "Euler a":
        return K.sample_euler_ancestral(denoiser, x, sigmas, disable=True, noise_sampler=lambda s, sn: draw())
    if sampler == "DPM++ 2M":
        return K.sample_dpmpp_2m(denoiser, x, sigmas, disable=True)
    sys.exit("unknown sampler " + sampler)


def automatic_sigmas(sched, sampler, steps):
    # A1111 1.9.4's "Automatic" scheduler: Karras for DPM++ 2M, the model's own schedule otherwise.
    return make_sigmas(sched, "karras" if sampler == "DPM++ 2M" else "uniform", steps)


def main():
    case = json.load(open(sys.argv[1]))
    ref.SD.update(ref.load_safetensors(case["checkpoint"]))
    ref.CIRCULAR[0] = case.get("tiling", False)
    torch.set_num_threads(2)
    sched = Schedule(sd1_alphas_cumprod())
    with torch.no_grad():
        x0 = init_latents(case)
        n = x0.shape[0]
        shape = tuple(x0.shape[1:])
        # ImageRNG with the CPU source: one generator per image, seeded with seed + k.
        gens = [torch.Generator().manual_seed(case["seed"] + k) for k in range(n)]
        draw = lambda: torch.stack([torch.randn(shape, generator=g) for g in gens])  # noqa: E731
        noise = draw() * case["noise_multiplier"]

        requested = case["steps"]
        strength = min(case["denoising_strength"], 0.999)
        if case["fix_steps"]:
            steps, t_enc = (int(requested / strength) if strength > 0 else 0), requested - 1
        else:
            steps, t_enc = requested, int(strength * requested)
        sigmas = automatic_sigmas(sched, case["sampler"], steps)
        sigma_sched = sigmas[steps - t_enc - 1:]
        xi = x0 + noise * sigma_sched[0]

        cond, uncond = conditioning(case, n)
        out = run_sampler(case["sampler"], make_denoiser(sched, cond, uncond, case), xi, sigma_sched, draw)
    out.numpy().astype(np.float32).tofile(case["out"])


if __name__ == "__main__":
    main()
