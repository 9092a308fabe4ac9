"""A1111 1.9.4's SD upscale script (scripts/sd_upscale.py) rebuilt from Pillow (the upscaler's passes,
split_grid, combine_grid: tests/runtime/tile_grid_reference.py), the independent networks of
sd1_reference.py and k-diffusion's samplers, for the image sdworker must reproduce.

usage: sd_upscale_reference.py CASE.json
CASE.json: checkpoint, heads_unet, heads_text, init (an RGB PNG path), width, height (the tile size),
overlap, upscaler ("None", "Lanczos", "Nearest"), scale, steps, denoising_strength, sampler, cfg_scale,
seed, batch_size, n_iter, cond_tokens, uncond_tokens, out (raw 8-bit RGB of every upscale, in order),
optionally color_correction (option img2img_color_correction: each batch's results corrected towards
their own tiles, tests/runtime/color_correction_reference.py).
The randn source is A1111's "CPU". The VAE posterior noise comes from torch's global generator:
torch's default seed for the first batch (A1111's first job after start), then as the previous
batch's noise draw left it, seeded with that batch's last seed.
"""
import json
import math
import os
import sys

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "runtime"))

from img2img_reference import automatic_sigmas, conditioning, make_denoiser, ref, run_sampler  # noqa: E402
from schedule_reference import Schedule, sd1_alphas_cumprod  # noqa: E402
from tile_grid_reference import combine_grid, split_grid, upscaler_upscale  # noqa: E402
from color_correction_reference import apply_color_correction, setup_color_correction  # noqa: E402


def process_batch(case, sched, tiles, seed, gen):
    """process_images on one batch of tiles: returns the decoded tiles and the batch's seeds."""
    arrays = [np.moveaxis(np.array(t).astype(np.float32) / 255.0, 2, 0) for t in tiles]
    if len(arrays) == 1:
        arrays = arrays * case["batch_size"]  # one image fills the batch
    n = len(arrays)
    latents = []
    for a in arrays:
        mean, logvar = ref.vae_encode(torch.from_numpy(a)[None] * 2 - 1)
        latents.append((mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=gen)) * 0.18215)
    x0 = torch.cat(latents)
    seeds = [seed + k for k in range(n)]
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    shape = tuple(x0.shape[1:])
    draw = lambda: torch.stack([torch.randn(shape, generator=g) for g in gens])  # noqa: E731
    noise = draw()
    requested = case["steps"]
    steps = requested
    t_enc = int(min(case["denoising_strength"], 0.999) * requested)
    sigmas = automatic_sigmas(sched, case["sampler"], steps)
    sigma_sched = sigmas[steps - t_enc - 1:]
    cond, uncond = conditioning(case, n)
    out = run_sampler(case["sampler"], make_denoiser(sched, cond, uncond, case), x0 + noise * sigma_sched[0],
                      sigma_sched, draw)
    images = []
    for z in out:
        x = torch.clamp((ref.vae_decode(z[None], 0.18215)[0] + 1.0) / 2.0, min=0.0, max=1.0)
        images.append(Image.fromarray((255. * np.moveaxis(x.numpy(), 0, 2)).astype(np.uint8)))
    if case.get("color_correction"):
        # init's color_corrections, one per tile (repeated when one tile fills the batch).
        targets = [setup_color_correction(t) for t in tiles] * (n if len(tiles) == 1 else 1)
        images = [apply_color_correction(targets[i], im) for i, im in enumerate(images)]
    return images, seeds


def main():
    case = json.load(open(sys.argv[1]))
    ref.SD.update(ref.load_safetensors(case["checkpoint"]))
    torch.set_num_threads(2)
    sched = Schedule(sd1_alphas_cumprod())
    init = Image.open(case["init"]).convert("RGB")
    img = init if case["upscaler"] == "None" else upscaler_upscale(init, case["scale"], case["upscaler"])
    grid = split_grid(img, case["width"], case["height"], case["overlap"])
    work = [t[2] for _, _, row in grid.tiles for t in row]
    bs = case["batch_size"]
    batch_count = math.ceil(len(work) / bs)
    gen = torch.Generator()  # torch's default seed, 67280421310721
    results = []
    with torch.no_grad():
        for n in range(case["n_iter"]):
            p_seed = case["seed"] + n
            work_results = []
            for i in range(batch_count):
                images, seeds = process_batch(case, sched, work[i * bs:(i + 1) * bs], p_seed, gen)
                gen = torch.Generator().manual_seed(seeds[-1])
                p_seed = seeds[0] + 1
                work_results += images
            k = 0
            for _, _, row in grid.tiles:
                for t in row:
                    t[2] = work_results[k]
                    k += 1
            results.append(np.array(combine_grid(grid)))
    with open(case["out"], "wb") as f:
        for r in results:
            f.write(r.tobytes())


if __name__ == "__main__":
    main()
