"""txt2img on the sigma tables A1111 1.9.4 samples with besides the model's own, rebuilt from the
independent networks of sd1_reference.py: the LCM sampler (sd_samplers_lcm.py: the LCMCompVisDenoiser
wrapper, i.e. the model's eps at the nearest of LCM's 50 original timesteps, then LCM's boundary
scalings c_skip, c_out at that timestep · 10, inside classifier-free guidance, and sample_lcm's loop),
the option sd_noise_schedule = "Zero Terminal SNR" (ᾱ rescaled before sampling) under any of them,
k-diffusion's own Euler a and DPM++ 2M included, and the option use_downcasted_alpha_bar (ᾱ rounded to
fp16 before k-diffusion's wrapper builds its σ tables from it, in fp16).

usage: schedule_variants_reference.py CASE.json
CASE.json: checkpoint, heads_unet, heads_text, width, height, steps, sampler ("LCM", "Euler a",
"DPM++ 2M"), scheduler ("automatic" or "karras"), noise_schedule ("Default" or "Zero Terminal SNR"),
downcast (bool, optional),
cfg_scale, seed, batch_size, cond_tokens, uncond_tokens, out (latents, float32), out_images (uint8
RGB, the batch's images one after another). The randn source is A1111's "CPU".
"""
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "runtime"))

from hires_reference import decoded_rgb, image_rng  # noqa: E402
from img2img_reference import conditioning, make_denoiser, ref, run_sampler  # noqa: E402
from schedule_reference import LcmSchedule, Schedule, make_sigmas, sd1_alphas_cumprod, zero_terminal_snr  # noqa: E402


def lcm_denoiser(table, cond, uncond, case):
    n = cond.shape[0]

    def denoiser(x, sigma, **_):
        x_in, s_in = torch.cat([x, x]), torch.cat([sigma, sigma])
        s = s_in[:, None, None, None]
        t = table.sigma_to_t(s_in)
        eps = ref.unet(x_in / (s ** 2 + 1) ** 0.5, t, torch.cat([cond, uncond]), case["heads_unet"])
        x0 = x_in - eps * s
        st = t[:, None, None, None] * 10.0
        out = st / (st ** 2 + 0.25) ** 0.5 * x0 + 0.25 / (st ** 2 + 0.25) * x_in
        c, u = out[:n], out[n:]
        return u + (c - u) * case["cfg_scale"]

    return denoiser


def sample_lcm(denoise, x, sigmas, draw):
    for i in range(len(sigmas) - 1):
        x = denoise(x, sigmas[i] * x.new_ones([x.shape[0]]))
        if sigmas[i + 1] > 0:
            x = x + sigmas[i + 1] * draw()
    return x


def main():
    case = json.load(open(sys.argv[1]))
    ref.SD.update(ref.load_safetensors(case["checkpoint"]))
    torch.set_num_threads(2)
    ac = sd1_alphas_cumprod()
    if case.get("downcast"):
        ac = ac.half()
    if case["noise_schedule"] == "Zero Terminal SNR":
        ac = zero_terminal_snr(ac)
    n = case["batch_size"]
    with torch.no_grad():
        cond, uncond = conditioning(case, n)
        draw = image_rng([case["seed"] + k for k in range(n)], (4, case["height"] // 8, case["width"] // 8))
        if case["sampler"] == "LCM":
            table = LcmSchedule(ac)
            sigmas = make_sigmas(table, case["scheduler"], case["steps"])
            x = sample_lcm(lcm_denoiser(table, cond, uncond, case), draw() * sigmas[0], sigmas, draw)
        else:
            sched = Schedule(ac)
            sigmas = make_sigmas(sched, case["scheduler"], case["steps"])
            x = run_sampler(case["sampler"], make_denoiser(sched, cond, uncond, case), draw() * sigmas[0], sigmas, draw)
        images = decoded_rgb(x)
    x.numpy().astype(np.float32).tofile(case["out"])
    images.tofile(case["out_images"])


if __name__ == "__main__":
    main()
