"""An independent PyTorch implementation of what SD2.x adds to SD1.x, written from ldm/open_clip and
A1111 1.9.4 with plain torch.nn.functional calls over a checkpoint's state dict: the OpenCLIP text
tower (A1111's FrozenOpenCLIPEmbedderWithCustomWords: padding with token 0 after the first end
token, ldm's layer_idx, ln_final), the UNet with linear projections and 64-channel heads, and
k-diffusion's CompVisVDenoiser / A1111's CompVisTimestepsVDenoiser for v-prediction models.
The layers SD1 and SD2 share (res blocks, attention, VAE) come from sd1_reference.py.

usage:
  sd2_reference.py networks CHECKPOINT WORKDIR LAYER_IDX
      WORKDIR holds tokens.npy, x.npy, t.npy, ctx.npy (inputs) and text.npy, out.npy (sdworker's
      outputs). Prints the largest relative error per network; exits 1 above 1e-4.
  sd2_reference.py txt2img CASE.json
      CASE.json: checkpoint, layer_idx, v (bool), width, height, steps, sampler ("Euler", "Euler a",
      "DDIM"), cfg_scale, seed, cond_tokens, uncond_tokens (77 ids each, SD1 style padding), out.
      Writes the final latents (float32) to out. The randn source is A1111's "CPU".
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "runtime"))
import sd1_reference as ref  # noqa: E402
from schedule_reference import Schedule, make_sigmas, sd1_alphas_cumprod  # noqa: E402
from sde_sampler_reference import K  # noqa: E402
from timestep_reference import ddim, timesteps_for  # noqa: E402

SD = ref.SD
ID_END, ID_PAD = 49407, 0


# -- OpenCLIP text tower --
def open_clip_text(tokens, layer_idx):
    tokens = tokens.clone()
    for row in range(tokens.shape[0]):  # A1111's process_tokens when id_end != id_pad
        index = tokens[row].tolist().index(ID_END)
        tokens[row, index + 1:] = ID_PAD
    p = "cond_stage_model.model."
    width = SD[p + "token_embedding.weight"].shape[1]
    heads = width // 64
    x = SD[p + "token_embedding.weight"][tokens] + SD[p + "positional_embedding"][: tokens.shape[1]]
    layers = 0
    while f"{p}transformer.resblocks.{layers}.ln_1.weight" in SD:
        layers += 1
    n = tokens.shape[1]
    mask = torch.full((n, n), float("-inf")).triu(1)  # open_clip's build_attention_mask
    for i in range(layers - layer_idx):  # ldm's text_transformer_forward stops layer_idx early
        q = f"{p}transformer.resblocks.{i}."
        h = ref.ln(x, q + "ln_1")
        wq, wk, wv = SD[q + "attn.in_proj_weight"].chunk(3)
        bq, bk, bv = SD[q + "attn.in_proj_bias"].chunk(3)
        a = ref.mha(F.linear(h, wq, bq), F.linear(h, wk, bk), F.linear(h, wv, bv), heads, mask)
        x = x + ref.lin(a, q + "attn.out_proj")
        h = F.gelu(ref.lin(ref.ln(x, q + "ln_2"), q + "mlp.c_fc"))
        x = x + ref.lin(h, q + "mlp.c_proj")
    return ref.ln(x, p + "ln_final")


# -- UNet: SD1's, with linear proj_in/proj_out and heads of 64 channels --
def spatial_transformer(x, ctx, p):
    b, c, hh, ww = x.shape
    heads = c // 64
    y = ref.lin(ref.gn(x, p + ".norm", 1e-6).reshape(b, c, hh * ww).transpose(1, 2), p + ".proj_in")
    i = 0
    while f"{p}.transformer_blocks.{i}.norm1.weight" in SD:
        q = f"{p}.transformer_blocks.{i}"
        h = ref.ln(y, q + ".norm1")
        y = ref.lin(ref.mha(ref.lin(h, q + ".attn1.to_q"), ref.lin(h, q + ".attn1.to_k"), ref.lin(h, q + ".attn1.to_v"), heads), q + ".attn1.to_out.0") + y
        h = ref.ln(y, q + ".norm2")
        y = ref.lin(ref.mha(ref.lin(h, q + ".attn2.to_q"), ref.lin(ctx, q + ".attn2.to_k"), ref.lin(ctx, q + ".attn2.to_v"), heads), q + ".attn2.to_out.0") + y
        a, g = ref.lin(ref.ln(y, q + ".norm3"), q + ".ff.net.0.proj").chunk(2, -1)
        y = ref.lin(a * F.gelu(g), q + ".ff.net.2") + y
        i += 1
    return ref.lin(y, p + ".proj_out").transpose(1, 2).reshape(b, c, hh, ww) + x


def block(x, emb, ctx, p):
    i = 0
    while any(k.startswith(f"{p}.{i}.") for k in SD):
        q = f"{p}.{i}"
        if q + ".in_layers.0.weight" in SD:
            x = ref.res_block(x, emb, q)
        elif q + ".proj_in.weight" in SD:
            x = spatial_transformer(x, ctx, q)
        elif q + ".op.weight" in SD:
            x = ref.conv(x, q + ".op", stride=2)
        elif q + ".conv.weight" in SD:
            x = ref.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"), q + ".conv")
        else:
            x = ref.conv(x, q)
        i += 1
    return x


def unet(x, t, ctx):
    p = "model.diffusion_model"
    mc = SD[p + ".time_embed.0.weight"].shape[1]
    half = mc // 2
    freqs = torch.exp(-np.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    emb = ref.lin(F.silu(ref.lin(emb, p + ".time_embed.0")), p + ".time_embed.2")
    skips, h, n = [], x, 0
    while any(k.startswith(f"{p}.input_blocks.{n}.") for k in SD):
        h = block(h, emb, ctx, f"{p}.input_blocks.{n}")
        skips.append(h)
        n += 1
    h = block(h, emb, ctx, f"{p}.middle_block")
    n = 0
    while any(k.startswith(f"{p}.output_blocks.{n}.") for k in SD):
        h = block(torch.cat([h, skips.pop()], 1), emb, ctx, f"{p}.output_blocks.{n}")
        n += 1
    return ref.conv(F.silu(ref.gn(h, p + ".out.0", 1e-5)), p + ".out.2")


# -- Denoisers --
def denoised(sched, x, sigma, ctx, v):
    """k-diffusion's CompVisDenoiser (eps) or CompVisVDenoiser (v, sigma_data 1) for one batch."""
    s = sigma[:, None, None, None]
    c_in = 1 / (s ** 2 + 1) ** 0.5
    out = unet(x * c_in, sched.sigma_to_t(sigma), ctx)
    if v:
        c_skip, c_out = 1 / (s ** 2 + 1), -s / (s ** 2 + 1) ** 0.5
        return out * c_out + x * c_skip
    return x - out * s


def timestep_eps(ac, x, t, ctx, v):
    """A1111's CompVisTimestepsDenoiser / CompVisTimestepsVDenoiser."""
    out = unet(x, t, ctx)
    if not v:
        return out
    a = ac[t.to(torch.int)][:, None, None, None]
    return a.sqrt() * out + (1 - a).sqrt() * x


def networks(ckpt, work, layer_idx):
    SD.update(ref.load_safetensors(ckpt))
    load = lambda name: np.load(f"{work}/{name}.npy")  # noqa: E731
    with torch.no_grad():
        text = open_clip_text(torch.from_numpy(load("tokens").astype(np.int64)), layer_idx).numpy()
        out = unet(torch.from_numpy(load("x")), torch.from_numpy(load("t")), torch.from_numpy(load("ctx"))).numpy()
    errors = {"text": ref.rel_err(load("text"), text), "unet": ref.rel_err(load("out"), out)}
    for k, e in errors.items():
        print(f"max_rel_err {k} {e:.3e}")
    sys.exit(0 if all(e < 1e-4 for e in errors.values()) else 1)


def txt2img(case):
    SD.update(ref.load_safetensors(case["checkpoint"]))
    ac = sd1_alphas_cumprod()
    sched = Schedule(ac)
    v, scale, n = case["v"], case["cfg_scale"], 1
    with torch.no_grad():
        cond = open_clip_text(torch.tensor([case["cond_tokens"]]), case["layer_idx"])
        uncond = open_clip_text(torch.tensor([case["uncond_tokens"]]), case["layer_idx"])
        ctx = torch.cat([cond, uncond])
        gen = torch.Generator().manual_seed(case["seed"])
        shape = (4, case["height"] // 8, case["width"] // 8)
        draw = lambda: torch.randn(shape, generator=gen)[None]  # noqa: E731
        x = draw()

        def cfg(den):
            return den[n:] + (den[:n] - den[n:]) * scale

        if case["sampler"] == "DDIM":
            class Model:
                def eps(self, xi, t):
                    return cfg(timestep_eps(ac, torch.cat([xi, xi]), torch.cat([t, t]), ctx, v))

                def randn_like(self, xi):
                    return draw()

            out = ddim(Model(), x, ac, timesteps_for(case["steps"]), 0.0)
        else:
            def model(xi, sigma, **_):
                return cfg(denoised(sched, torch.cat([xi, xi]), torch.cat([sigma, sigma]), ctx, v))

            sigmas = make_sigmas(sched, "uniform", case["steps"])
            x = x * sigmas[0]
            if case["sampler"] == "Euler":
                out = K.sample_euler(model, x, sigmas, disable=True)
            elif case["sampler"] == "Euler a":
                out = K.sample_euler_ancestral(model, x, sigmas, disable=True, noise_sampler=lambda s, sn: draw())
            else:
                sys.exit("unknown sampler " + case["sampler"])
    out.numpy().astype(np.float32).tofile(case["out"])


def main():
    torch.set_num_threads(2)
    if sys.argv[1] == "networks":
        networks(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1] == "txt2img":
        txt2img(json.load(open(sys.argv[2])))
    else:
        sys.exit("usage: sd2_reference.py networks|txt2img ...")


if __name__ == "__main__":
    main()
