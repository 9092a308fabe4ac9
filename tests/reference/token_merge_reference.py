"""Token merging as A1111 1.9.4 applies it (sd_models.apply_token_merging: tomesd 0.1.3 with
use_rand off, merging the self-attention's tokens only, at full resolution only), on the independent
networks of sd1_reference.py: each transformer block goes through tomesd's own compute_merge.

usage: token_merge_reference.py CASE.json
CASE.json: checkpoint, heads_unet, heads_text, ratio, and
- "unet": a list of {x, t, ctx, out}: raw float32 files of the inputs with their shapes as
  {"path": ..., "shape": [...]}, and where the UNet's output goes;
- or a txt2img run: width, height, steps, sampler ("Euler", "Euler a", "DPM++ 2M"), cfg_scale,
  seed, batch_size, cond_tokens / uncond_tokens (77 ids each), out (the latents, raw float32), with
  A1111's "CPU" randn source.
"""
import json
import sys

import numpy as np
import torch

from hires_reference import image_rng
from img2img_reference import automatic_sigmas, conditioning, make_denoiser, ref, run_sampler
from schedule_reference import Schedule, sd1_alphas_cumprod


def tensor(spec):
    return torch.from_numpy(np.fromfile(spec["path"], dtype=np.float32).reshape(spec["shape"]))


def main():
    case = json.load(open(sys.argv[1]))
    ref.SD.update(ref.load_safetensors(case["checkpoint"]))
    ref.TOME[0] = case["ratio"]
    torch.set_num_threads(2)
    with torch.no_grad():
        if "unet" in case:
            for call in case["unet"]:
                eps = ref.unet(tensor(call["x"]), tensor(call["t"]), tensor(call["ctx"]), case["heads_unet"])
                eps.numpy().astype(np.float32).tofile(call["out"])
            return
        sched = Schedule(sd1_alphas_cumprod())
        n = case["batch_size"]
        draw = image_rng([case["seed"] + k for k in range(n)], (4, case["height"] // 8, case["width"] // 8))
        sigmas = automatic_sigmas(sched, case["sampler"], case["steps"])
        x = draw() * sigmas[0]
        cond, uncond = conditioning(case, n)
        out = run_sampler(case["sampler"], make_denoiser(sched, cond, uncond, case), x, sigmas, draw)
    out.numpy().astype(np.float32).tofile(case["out"])


if __name__ == "__main__":
    main()
