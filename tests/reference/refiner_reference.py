"""txt2img with A1111 1.9.4's refiner (sd_samplers_common.apply_refiner), rebuilt from the independent
networks of sd1_reference.py and k-diffusion's samplers: before each model call, the completed ratio is
(999 − t) / 1000 for the training timestep t whose sigma is nearest the call's largest sigma; once it is no
longer below refiner_switch_at, the refiner's weights replace the model's, the prompts are encoded again by
its text encoder and sampling goes on; the result is decoded by the refiner's VAE.

usage: refiner_reference.py CASE.json
CASE.json: checkpoint, refiner, switch_at, heads_unet, heads_text, width, height, steps, sampler,
cfg_scale, seed, batch_size, cond_tokens, uncond_tokens, out (latents, float32), out_images (uint8 RGB,
the batch's images one after another). The randn source is A1111's "CPU".
"""
import json
import sys

import numpy as np
import torch

from hires_reference import decoded_rgb, image_rng
from img2img_reference import automatic_sigmas, conditioning, make_denoiser, ref, run_sampler
from schedule_reference import Schedule, sd1_alphas_cumprod


def load(path):
    ref.SD.clear()
    ref.SD.update(ref.load_safetensors(path))


def main():
    case = json.load(open(sys.argv[1]))
    torch.set_num_threads(2)
    sched = Schedule(sd1_alphas_cumprod())
    n = case["batch_size"]
    seeds = [case["seed"] + k for k in range(n)]
    with torch.no_grad():
        load(case["checkpoint"])
        cond, uncond = conditioning(case, n)
        state = {"inner": make_denoiser(sched, cond, uncond, case), "switched_at_call": None, "calls": 0}

        def denoiser(x, sigma, **kw):
            if state["switched_at_call"] is None:
                t = torch.argmin(torch.abs(sched.sigmas - torch.max(sigma)))
                ratio = (999 - t) / 1000
                if not ratio < case["switch_at"]:
                    load(case["refiner"])
                    c, u = conditioning(case, n)
                    state["inner"] = make_denoiser(sched, c, u, case)
                    state["switched_at_call"] = state["calls"]
            state["calls"] += 1
            return state["inner"](x, sigma, **kw)

        draw = image_rng(seeds, (4, case["height"] // 8, case["width"] // 8))
        sigmas = automatic_sigmas(sched, case["sampler"], case["steps"])
        samples = run_sampler(case["sampler"], denoiser, draw() * sigmas[0], sigmas, draw)
        images = decoded_rgb(samples)
    samples.numpy().astype(np.float32).tofile(case["out"])
    images.tofile(case["out_images"])
    print(json.dumps({"switched_at_call": state["switched_at_call"]}))


if __name__ == "__main__":
    main()
