"""An independent PyTorch implementation of SDXL base's networks and conditioning, written from
Stability's generative-models (sgm) and A1111 1.9.4 with plain torch.nn.functional calls over a
checkpoint's state dict:
  - sgm's UNetModel built from the yaml's network_config (per-level transformer_depth, the middle
    block's depth = the last level's, label_emb for num_classes "sequential" added to the time
    embedding from y, linear proj_in/proj_out, 64-channel heads);
  - FrozenCLIPEmbedder with layer "hidden": hidden_states[layer_idx], no final layer norm;
  - FrozenOpenCLIPEmbedder2 (legacy False): the penultimate layer as it is, and the pooled vector
    ln_final(last layer)[text.argmax(-1)] @ text_projection, after A1111 pads with 0 past the first
    end token;
  - A1111's per-embedder "Original" emphasis, chunks side by side, pooled from the first chunk,
    force_zero_negative_prompt, and ConcatTimestepEmbedderND's 256-wide embeddings of
    original_size_as_tuple, crop_coords_top_left and target_size_as_tuple.
The layers SDXL shares with SD1 (res blocks, attention, norms) come from sd1_reference.py.

usage:
  sdxl_reference.py networks CHECKPOINT YAML WORKDIR
      WORKDIR holds case.json {"texts": [[[77 ids], ...] per text], "multipliers": same shape,
      "negative_empty": bool, "height", "width", "crop_top", "crop_left", optionally "fixes":
      [[row, chunk, offset, EMBEDDING.safetensors], ...]: A1111's EmbeddingsWithFixes, the file's
      clip_l vectors in CLIP-L's token embeddings and its clip_g ones in bigG's, from chunk
      position offset + 1} and x.npy, t.npy,
      ctx.npy, y.npy (UNet inputs), with sdworker's outputs crossattn.npy, pooled.npy, vector.npy,
      out.npy. Prints the largest relative error of each; exits 1 when conditioning differs by more
      than 1e-5 or the UNet by more than 1e-4.
  sdxl_reference.py txt2img CHECKPOINT YAML CASE.json
      CASE.json: {"cond": {"texts", "multipliers"} as above for one text, "uncond": the same plus
      "negative_empty", "width", "height", "crop_top", "crop_left", "steps", "sampler" ("Euler" or
      "DPM++ 2M"), "cfg_scale", "seed", "out"}. A1111's txt2img: CPU randn, the size conditioning
      from the job's width and height, one CFG batch [cond, uncond] through k-diffusion's
      CompVisDenoiser. Writes the final latents (float32) to out.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "runtime"))
import sd1_reference as ref  # noqa: E402
from schedule_reference import Schedule, make_sigmas, sd1_alphas_cumprod  # noqa: E402
from sde_sampler_reference import K  # noqa: E402

SD = ref.SD
ID_END, ID_PAD = 49407, 0
UNET = "model.diffusion_model."
CLIP_L = "conditioner.embedders.0.transformer.text_model."
BIGG = "conditioner.embedders.1.model."


def timestep_embedding(t, dim):
    half = dim // 2
    freqs = torch.exp(-np.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


# -- sgm UNetModel --
def transformer(x, ctx, p, depth, head_channels):
    b, c, hh, ww = x.shape
    heads = c // head_channels
    y = ref.lin(ref.gn(x, p + ".norm", 1e-6).reshape(b, c, hh * ww).transpose(1, 2), p + ".proj_in")
    for i in range(depth):
        q = f"{p}.transformer_blocks.{i}"
        h = ref.ln(y, q + ".norm1")
        y = ref.lin(ref.mha(ref.lin(h, q + ".attn1.to_q"), ref.lin(h, q + ".attn1.to_k"), ref.lin(h, q + ".attn1.to_v"), heads), q + ".attn1.to_out.0") + y
        h = ref.ln(y, q + ".norm2")
        y = ref.lin(ref.mha(ref.lin(h, q + ".attn2.to_q"), ref.lin(ctx, q + ".attn2.to_k"), ref.lin(ctx, q + ".attn2.to_v"), heads), q + ".attn2.to_out.0") + y
        a, g = ref.lin(ref.ln(y, q + ".norm3"), q + ".ff.net.0.proj").chunk(2, -1)
        y = ref.lin(a * F.gelu(g), q + ".ff.net.2") + y
    return ref.lin(y, p + ".proj_out").transpose(1, 2).reshape(b, c, hh, ww) + x


def unet(x, t, ctx, y, cfg):
    mc, mult, nrb = cfg["model_channels"], cfg["channel_mult"], cfg["num_res_blocks"]
    attn, hc = cfg["attention_resolutions"], cfg["num_head_channels"]
    depth = cfg["transformer_depth"]
    if isinstance(depth, int):
        depth = [depth] * len(mult)
    middle = cfg.get("transformer_depth_middle", depth[-1])
    emb = ref.lin(F.silu(ref.lin(timestep_embedding(t, mc), UNET + "time_embed.0")), UNET + "time_embed.2")
    emb = emb + ref.lin(F.silu(ref.lin(y, UNET + "label_emb.0.0")), UNET + "label_emb.0.2")
    h = ref.conv(x, UNET + "input_blocks.0.0")
    skips, n, ds = [h], 1, 1
    for level in range(len(mult)):
        for _ in range(nrb):
            b = f"{UNET}input_blocks.{n}"
            h = ref.res_block(h, emb, b + ".0")
            if ds in attn:
                h = transformer(h, ctx, b + ".1", depth[level], hc)
            skips.append(h)
            n += 1
        if level != len(mult) - 1:
            h = ref.conv(h, f"{UNET}input_blocks.{n}.0.op", stride=2)
            skips.append(h)
            n += 1
            ds *= 2
    h = ref.res_block(h, emb, UNET + "middle_block.0")
    h = transformer(h, ctx, UNET + "middle_block.1", middle, hc)
    h = ref.res_block(h, emb, UNET + "middle_block.2")
    n = 0
    for level in reversed(range(len(mult))):
        for i in range(nrb + 1):
            b = f"{UNET}output_blocks.{n}"
            h = ref.res_block(torch.cat([h, skips.pop()], 1), emb, b + ".0")
            k = 1
            if ds in attn:
                h = transformer(h, ctx, b + ".1", depth[level], hc)
                k = 2
            if level and i == nrb:
                h = ref.conv(F.interpolate(h, scale_factor=2.0, mode="nearest"), f"{b}.{k}.conv")
                ds //= 2
            n += 1
    return ref.conv(F.silu(ref.gn(h, UNET + "out.0", 1e-5)), UNET + "out.2")


# -- Text embedders --
def causal_mask(n):
    return torch.full((n, n), float("-inf")).triu(1)


def with_fixes(x, fixes, key):
    """EmbeddingsWithFixes: rows' token embeddings from offset + 1 replaced by the embedding's
    vectors for this embedder (textual_inversion_key), as many as fit before the chunk's end."""
    x = x.clone()
    for row, offset, vectors in fixes:
        emb = vectors[key]
        n = min(x.shape[1] - offset - 1, emb.shape[0])
        x[row, offset + 1:offset + 1 + n] = emb[:n]
    return x


def clip_l_hidden(tokens, layer_idx, fixes=()):
    """Hugging Face CLIPTextModel's hidden_states[layer_idx] (0 = the embeddings)."""
    width = SD[CLIP_L + "embeddings.token_embedding.weight"].shape[1]
    n = tokens.shape[1]
    x = with_fixes(SD[CLIP_L + "embeddings.token_embedding.weight"][tokens], fixes, "clip_l")
    x = x + SD[CLIP_L + "embeddings.position_embedding.weight"][:n]
    for i in range(layer_idx):
        q = f"{CLIP_L}encoder.layers.{i}."
        h = ref.ln(x, q + "layer_norm1")
        a = ref.mha(ref.lin(h, q + "self_attn.q_proj"), ref.lin(h, q + "self_attn.k_proj"), ref.lin(h, q + "self_attn.v_proj"), width // 64, causal_mask(n))
        x = x + ref.lin(a, q + "self_attn.out_proj")
        h = ref.lin(ref.ln(x, q + "layer_norm2"), q + "mlp.fc1")
        x = x + ref.lin(h * torch.sigmoid(1.702 * h), q + "mlp.fc2")
    return x


def bigg(tokens, layer, fixes=()):
    """sgm FrozenOpenCLIPEmbedder2 (legacy False): (z[layer], pooled)."""
    tokens = tokens.clone()
    for row in range(tokens.shape[0]):  # A1111's process_tokens, id_pad 0
        index = tokens[row].tolist().index(ID_END)
        tokens[row, index + 1:] = ID_PAD
    width = SD[BIGG + "token_embedding.weight"].shape[1]
    n = tokens.shape[1]
    x = with_fixes(SD[BIGG + "token_embedding.weight"][tokens], fixes, "clip_g") + SD[BIGG + "positional_embedding"][:n]
    layers = 0
    while f"{BIGG}transformer.resblocks.{layers}.ln_1.weight" in SD:
        layers += 1
    outputs = {}
    for i in range(layers):
        if i == layers - 1:
            outputs["penultimate"] = x
        q = f"{BIGG}transformer.resblocks.{i}."
        h = ref.ln(x, q + "ln_1")
        wq, wk, wv = SD[q + "attn.in_proj_weight"].chunk(3)
        bq, bk, bv = SD[q + "attn.in_proj_bias"].chunk(3)
        a = ref.mha(F.linear(h, wq, bq), F.linear(h, wk, bk), F.linear(h, wv, bv), width // 64, causal_mask(n))
        x = x + ref.lin(a, q + "attn.out_proj")
        x = x + ref.lin(F.gelu(ref.lin(ref.ln(x, q + "ln_2"), q + "mlp.c_fc")), q + "mlp.c_proj")
    outputs["last"] = x
    o = ref.ln(x, BIGG + "ln_final")
    pooled = o[torch.arange(o.shape[0]), tokens.argmax(dim=-1)] @ SD[BIGG + "text_projection"]
    return outputs[layer], pooled


def emphasis_original(z, multipliers):
    original_mean = z.mean()
    z = z * multipliers.reshape(multipliers.shape + (1,)).expand(z.shape)
    return z * (original_mean / z.mean())


def text_conditioning(case, clip_layer_idx, bigg_layer):
    """A1111's forward of both wrappers over the chunks, hstacked; sgm's conditioner concatenates
    the two crossattn outputs on the last axis."""
    texts, mults = case["texts"], case["multipliers"]
    files = {}
    for *_, path in case.get("fixes", []):
        files[path] = ref.load_safetensors(path)
    chunks = max(len(t) for t in texts)
    zl, zg, pooled = [], [], None
    for i in range(chunks):
        tokens = torch.tensor([t[i] for t in texts])
        m = torch.tensor([mm[i] for mm in mults], dtype=torch.float32)
        fixes = [(row, offset, files[path]) for row, chunk, offset, path in case.get("fixes", []) if chunk == i]
        zl.append(emphasis_original(clip_l_hidden(tokens, clip_layer_idx, fixes), m))
        g, p = bigg(tokens, bigg_layer, fixes)
        zg.append(emphasis_original(g, m))
        if i == 0:
            pooled = p
    crossattn = torch.cat([torch.hstack(zl), torch.hstack(zg)], dim=-1)
    if case["negative_empty"]:
        crossattn, pooled = torch.zeros_like(crossattn), torch.zeros_like(pooled)
    return crossattn, pooled


def vector(pooled, case):
    def embed(values):  # ConcatTimestepEmbedderND(outdim 256): "b d -> (b d)", embed, "(b d) d2 -> b (d d2)"
        v = torch.tensor([values] * pooled.shape[0], dtype=torch.float32)
        return timestep_embedding(v.reshape(-1), 256).reshape(v.shape[0], -1)
    hw = [case["height"], case["width"]]
    return torch.cat([pooled, embed(hw), embed([case["crop_top"], case["crop_left"]]), embed(hw)], dim=1)


def networks(ckpt, yaml_path, work):
    SD.update(ref.load_safetensors(ckpt))
    params = yaml.safe_load(open(yaml_path))["model"]["params"]
    unet_cfg = params["network_config"]["params"]
    emb_models = params["conditioner_config"]["params"]["emb_models"]
    clip_layer_idx = emb_models[0]["params"]["layer_idx"]
    bigg_layer = emb_models[1]["params"]["layer"]
    case = json.load(open(f"{work}/case.json"))
    load = lambda name: np.load(f"{work}/{name}.npy")  # noqa: E731
    with torch.no_grad():
        crossattn, pooled = text_conditioning(case, clip_layer_idx, bigg_layer)
        vec = vector(pooled, case)
        x, t = torch.from_numpy(load("x")), torch.from_numpy(load("t"))
        out = unet(x, t, torch.from_numpy(load("ctx")), torch.from_numpy(load("y")), unet_cfg)
    errors = {
        "crossattn": (ref.rel_err(load("crossattn"), crossattn.numpy()), 1e-5),
        "pooled": (ref.rel_err(load("pooled"), pooled.numpy()), 1e-5),
        "vector": (ref.rel_err(load("vector"), vec.numpy()), 1e-5),
        "unet": (ref.rel_err(load("out"), out.numpy()), 1e-4),
    }
    ok = True
    for k, (e, limit) in errors.items():
        print(f"max_rel_err {k} {e:.3e} (limit {limit:.0e})")
        ok = ok and e <= limit
    sys.exit(0 if ok else 1)


def txt2img(ckpt, yaml_path, case_path):
    SD.update(ref.load_safetensors(ckpt))
    params = yaml.safe_load(open(yaml_path))["model"]["params"]
    unet_cfg = params["network_config"]["params"]
    emb_models = params["conditioner_config"]["params"]["emb_models"]
    clip_layer_idx = emb_models[0]["params"]["layer_idx"]
    bigg_layer = emb_models[1]["params"]["layer"]
    case = json.load(open(case_path))
    sched = Schedule(sd1_alphas_cumprod())
    scale = case["cfg_scale"]
    with torch.no_grad():
        conds = []
        for key, negative in (("cond", False), ("uncond", True)):
            c = dict(case[key], negative_empty=negative and case["uncond"]["negative_empty"])
            crossattn, pooled = text_conditioning(c, clip_layer_idx, bigg_layer)
            conds.append((crossattn, vector(pooled, case)))
        # Equal token lengths here: one batch, cond rows first (A1111's CFGDenoiser).
        ctx = torch.cat([conds[0][0], conds[1][0]])
        y = torch.cat([conds[0][1], conds[1][1]])
        gen = torch.Generator().manual_seed(case["seed"])
        x = torch.randn((4, case["height"] // 8, case["width"] // 8), generator=gen)[None]

        def model(xi, sigma, **_):
            s = torch.cat([sigma, sigma])
            sc = s[:, None, None, None]
            xx = torch.cat([xi, xi])
            out = unet(xx / (sc ** 2 + 1) ** 0.5, sched.sigma_to_t(s), ctx, y, unet_cfg)
            den = xx - out * sc
            return den[1:] + (den[:1] - den[1:]) * scale

        if case["sampler"] == "Euler":
            sigmas = make_sigmas(sched, "uniform", case["steps"])
            out = K.sample_euler(model, x * sigmas[0], sigmas, disable=True)
        elif case["sampler"] == "DPM++ 2M":
            sigmas = make_sigmas(sched, "karras", case["steps"])
            out = K.sample_dpmpp_2m(model, x * sigmas[0], sigmas, disable=True)
        else:
            sys.exit("unknown sampler " + case["sampler"])
    out.numpy().astype(np.float32).tofile(case["out"])


def main():
    torch.set_num_threads(2)
    if sys.argv[1] == "networks":
        networks(sys.argv[2], sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "txt2img":
        txt2img(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit("unknown command " + sys.argv[1])


if __name__ == "__main__":
    main()
