"""txt2img with A1111 1.9.4's padding of prompt and negative prompt of different token lengths
(sd_samplers_cfg_denoiser.CFGDenoiser: pad_cond_uncond appends the model's conditioning of the empty
prompt to the shorter side, 77 tokens at a time; pad_cond_uncond_v0 repeats the negative's last
vector, or cuts the negative, to the prompt's length), so both share one UNet call; rebuilt from the
independent networks of sd1_reference.py and k-diffusion's Euler.

usage: pad_conds_reference.py CASE.json
CASE.json: checkpoint, heads_unet, heads_text, width, height, steps, cfg_scale, seed, mode ("pad" or
"v0"), cond_chunks and uncond_chunks (lists of 77 token ids each), empty_tokens (the 77 ids of ""),
out (latents, float32). The randn source is A1111's "CPU"; the sampler Euler on the model's schedule.
"""
import json
import sys

import numpy as np
import torch

from hires_reference import image_rng
from img2img_reference import make_denoiser, ref, run_sampler
from schedule_reference import Schedule, make_sigmas, sd1_alphas_cumprod


def encode(chunks, heads):
    # Each chunk on its own (emphasis with all weights 1 changes nothing), side by side.
    return torch.cat([ref.text_model(torch.tensor([c]), heads) for c in chunks], dim=1)


def main():
    case = json.load(open(sys.argv[1]))
    ref.SD.update(ref.load_safetensors(case["checkpoint"]))
    torch.set_num_threads(2)
    heads = case["heads_text"]
    with torch.no_grad():
        cond = encode(case["cond_chunks"], heads)
        uncond = encode(case["uncond_chunks"], heads)
        if case["mode"] == "v0":
            if uncond.shape[1] < cond.shape[1]:
                uncond = torch.hstack([uncond, uncond[:, -1:].repeat([1, cond.shape[1] - uncond.shape[1], 1])])
            else:
                uncond = uncond[:, :cond.shape[1]]
        else:
            empty = ref.text_model(torch.tensor([case["empty_tokens"]]), heads)
            repeats = (cond.shape[1] - uncond.shape[1]) // empty.shape[1]
            if repeats < 0:
                cond = torch.cat([cond, empty.repeat((1, -repeats, 1))], dim=1)
            else:
                uncond = torch.cat([uncond, empty.repeat((1, repeats, 1))], dim=1)
        sched = Schedule(sd1_alphas_cumprod())
        draw = image_rng([case["seed"]], (4, case["height"] // 8, case["width"] // 8))
        sigmas = make_sigmas(sched, "uniform", case["steps"])
        x = run_sampler("Euler", make_denoiser(sched, cond, uncond, case), draw() * sigmas[0], sigmas, draw)
    x.numpy().astype(np.float32).tofile(case["out"])


if __name__ == "__main__":
    main()
