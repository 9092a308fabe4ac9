"""An independent PyTorch implementation of the SD1.x networks, written from the ldm/CLIP
architecture with plain torch.nn.functional calls over a checkpoint's state dict.

Usage: sd1_reference.py CHECKPOINT WORKDIR HEADS_UNET HEADS_TEXT
WORKDIR holds the inputs the C++ side used (tokens.npy, x.npy, t.npy, ctx.npy, z.npy) and its
outputs (text.npy, eps.npy, image.npy). Prints the largest relative error per network and exits
1 when any exceeds the tolerance.
"""
import json
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for key, v in header.items():
        if key == "__metadata__":
            continue
        begin, end = v["data_offsets"]
        arr = np.frombuffer(data[8 + n + begin:8 + n + end], dtype=DTYPES[v["dtype"]]).reshape(v["shape"])
        t = torch.from_numpy(arr.copy())
        out[key] = t if v["dtype"] == "I64" else t.float()
    return out


SD = {}


def lin(x, p):
    return F.linear(x, SD[p + ".weight"], SD.get(p + ".bias"))


CIRCULAR = [False]  # A1111's tiling: padding_mode "circular" on every Conv2d


def conv(x, p, stride=1, padding=None):
    w = SD[p + ".weight"]
    if padding is None:
        padding = w.shape[-1] // 2
    if CIRCULAR[0] and padding > 0:
        x = F.pad(x, (padding,) * 4, mode="circular")
        padding = 0
    return F.conv2d(x, w, SD[p + ".bias"], stride, padding)


def gn(x, p, eps):
    return F.group_norm(x, 32, SD[p + ".weight"], SD[p + ".bias"], eps)


def ln(x, p, eps=1e-5):
    return F.layer_norm(x, (x.shape[-1],), SD[p + ".weight"], SD[p + ".bias"], eps)


def mha(q, k, v, heads, mask=None):
    b, n, c = q.shape
    d = c // heads
    q, k, v = [t.reshape(b, -1, heads, d).transpose(1, 2) for t in (q, k, v)]
    w = (q @ k.transpose(-1, -2)) * d ** -0.5
    if mask is not None:
        w = w + mask
    return (w.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c)


# -- CLIP text model --
def text_model(tokens, heads, clip_skip=1):
    p = "cond_stage_model.transformer.text_model."
    x = SD[p + "embeddings.token_embedding.weight"][tokens] + SD[p + "embeddings.position_embedding.weight"][: tokens.shape[1]]
    layers = 0
    while f"{p}encoder.layers.{layers}.layer_norm1.weight" in SD:
        layers += 1
    n = tokens.shape[1]
    mask = torch.full((n, n), float("-inf")).triu(1)
    for i in range(layers - (clip_skip - 1)):
        q = f"{p}encoder.layers.{i}."
        h = ln(x, q + "layer_norm1")
        x = x + lin(mha(lin(h, q + "self_attn.q_proj"), lin(h, q + "self_attn.k_proj"), lin(h, q + "self_attn.v_proj"), heads, mask), q + "self_attn.out_proj")
        h = lin(ln(x, q + "layer_norm2"), q + "mlp.fc1")
        x = x + lin(h * torch.sigmoid(1.702 * h), q + "mlp.fc2")
    return ln(x, p + "final_layer_norm")


# -- UNet --
def res_block(x, emb, p):
    h = conv(F.silu(gn(x, p + ".in_layers.0", 1e-5)), p + ".in_layers.2")
    h = h + lin(F.silu(emb), p + ".emb_layers.1")[:, :, None, None]
    h = conv(F.silu(gn(h, p + ".out_layers.0", 1e-5)), p + ".out_layers.3")
    skip = conv(x, p + ".skip_connection") if p + ".skip_connection.weight" in SD else x
    return skip + h


# Token merging (A1111's option token_merging_ratio): TOME[0] is the ratio; each transformer block
# merges through tomesd's own compute_merge with the arguments A1111's apply_token_merging passes,
# SIZE[0] being the UNet input's latent size that tomesd's forward hook records.
TOME = [0.0]
SIZE = [None]


def token_merge(y):
    if TOME[0] <= 0:
        return (lambda t: t), (lambda t: t)
    from tomesd.patch import compute_merge
    info = {"size": SIZE[0], "args": {"ratio": TOME[0], "max_downsample": 1, "sx": 2, "sy": 2, "use_rand": False,
                                      "generator": None, "merge_attn": True, "merge_crossattn": False,
                                      "merge_mlp": False}}
    merge, _, _, unmerge, _, _ = compute_merge(y, info)
    return merge, unmerge


def spatial_transformer(x, ctx, p, heads):
    b, c, hh, ww = x.shape
    y = conv(gn(x, p + ".norm", 1e-6), p + ".proj_in").reshape(b, c, hh * ww).transpose(1, 2)
    i = 0
    while f"{p}.transformer_blocks.{i}.norm1.weight" in SD:
        q = f"{p}.transformer_blocks.{i}"
        merge, unmerge = token_merge(y)
        h = merge(ln(y, q + ".norm1"))
        y = unmerge(lin(mha(lin(h, q + ".attn1.to_q"), lin(h, q + ".attn1.to_k"), lin(h, q + ".attn1.to_v"), heads), q + ".attn1.to_out.0")) + y
        h = ln(y, q + ".norm2")
        y = lin(mha(lin(h, q + ".attn2.to_q"), lin(ctx, q + ".attn2.to_k"), lin(ctx, q + ".attn2.to_v"), heads), q + ".attn2.to_out.0") + y
        a, g = lin(ln(y, q + ".norm3"), q + ".ff.net.0.proj").chunk(2, -1)
        y = lin(a * F.gelu(g), q + ".ff.net.2") + y
        i += 1
    return conv(y.transpose(1, 2).reshape(b, c, hh, ww), p + ".proj_out") + x


def block(x, emb, ctx, p, heads):
    i = 0
    while any(k.startswith(f"{p}.{i}.") for k in SD):
        q = f"{p}.{i}"
        if q + ".in_layers.0.weight" in SD:
            x = res_block(x, emb, q)
        elif q + ".proj_in.weight" in SD:
            x = spatial_transformer(x, ctx, q, heads)
        elif q + ".op.weight" in SD:
            x = conv(x, q + ".op", stride=2)
        elif q + ".conv.weight" in SD:
            x = conv(F.interpolate(x, scale_factor=2.0, mode="nearest"), q + ".conv")
        else:
            x = conv(x, q)
        i += 1
    return x


def unet(x, t, ctx, heads):
    p = "model.diffusion_model"
    mc = SD[p + ".time_embed.0.weight"].shape[1]
    half = mc // 2
    freqs = torch.exp(-np.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    emb = lin(F.silu(lin(emb, p + ".time_embed.0")), p + ".time_embed.2")
    skips = []
    h = x
    SIZE[0] = (x.shape[2], x.shape[3])
    n = 0
    while f"{p}.input_blocks.{n}.0.weight" in SD or any(k.startswith(f"{p}.input_blocks.{n}.") for k in SD):
        h = block(h, emb, ctx, f"{p}.input_blocks.{n}", heads)
        skips.append(h)
        n += 1
    h = block(h, emb, ctx, f"{p}.middle_block", heads)
    n = 0
    while any(k.startswith(f"{p}.output_blocks.{n}.") for k in SD):
        skip = skips.pop()
        if h.shape[-2:] != skip.shape[-2:]:  # odd latent sizes: A1111's hijacked cat resizes
            h = F.interpolate(h, skip.shape[-2:], mode="nearest")
        h = block(torch.cat([h, skip], 1), emb, ctx, f"{p}.output_blocks.{n}", heads)
        n += 1
    return conv(F.silu(gn(h, p + ".out.0", 1e-5)), p + ".out.2")


# -- VAE decoder --
def vae_res(x, p):
    h = conv(F.silu(gn(x, p + ".norm1", 1e-6)), p + ".conv1")
    h = conv(F.silu(gn(h, p + ".norm2", 1e-6)), p + ".conv2")
    skip = conv(x, p + ".nin_shortcut") if p + ".nin_shortcut.weight" in SD else x
    return skip + h


def vae_attn(x, p):
    b, c, hh, ww = x.shape
    h = gn(x, p + ".norm", 1e-6)
    q, k, v = [conv(h, p + "." + n).reshape(b, c, hh * ww) for n in ("q", "k", "v")]
    w = torch.bmm(q.permute(0, 2, 1), k) * (int(c) ** (-0.5))
    w = w.softmax(dim=2)
    out = torch.bmm(v, w.permute(0, 2, 1)).reshape(b, c, hh, ww)
    return x + conv(out, p + ".proj_out")


def vae_decode(z, scale_factor):
    p = "first_stage_model."
    x = conv(z / scale_factor, p + "post_quant_conv")
    x = conv(x, p + "decoder.conv_in")
    x = vae_res(x, p + "decoder.mid.block_1")
    x = vae_attn(x, p + "decoder.mid.attn_1")
    x = vae_res(x, p + "decoder.mid.block_2")
    levels = 0
    while any(k.startswith(f"{p}decoder.up.{levels}.") for k in SD):
        levels += 1
    for i in reversed(range(levels)):
        j = 0
        while f"{p}decoder.up.{i}.block.{j}.norm1.weight" in SD:
            x = vae_res(x, f"{p}decoder.up.{i}.block.{j}")
            j += 1
        if f"{p}decoder.up.{i}.upsample.conv.weight" in SD:
            x = conv(F.interpolate(x, scale_factor=2.0, mode="nearest"), f"{p}decoder.up.{i}.upsample.conv")
    return conv(F.silu(gn(x, p + "decoder.norm_out", 1e-6)), p + "decoder.conv_out")


# -- VAE encoder: ldm Encoder with asymmetric-padded stride-2 downsampling, then quant_conv --
def vae_encode(x):
    """x [B, 3, H, W] in [-1, 1] -> (mean, logvar) of the posterior, logvar clamped as ldm does."""
    p = "first_stage_model."
    h = conv(x, p + "encoder.conv_in")
    levels = 0
    while any(k.startswith(f"{p}encoder.down.{levels}.") for k in SD):
        levels += 1
    for i in range(levels):
        j = 0
        while f"{p}encoder.down.{i}.block.{j}.norm1.weight" in SD:
            h = vae_res(h, f"{p}encoder.down.{i}.block.{j}")
            j += 1
        if f"{p}encoder.down.{i}.downsample.conv.weight" in SD:
            h = conv(F.pad(h, (0, 1, 0, 1)), f"{p}encoder.down.{i}.downsample.conv", stride=2, padding=0)
    h = vae_res(h, p + "encoder.mid.block_1")
    h = vae_attn(h, p + "encoder.mid.attn_1")
    h = vae_res(h, p + "encoder.mid.block_2")
    h = conv(F.silu(gn(h, p + "encoder.norm_out", 1e-6)), p + "encoder.conv_out")
    mean, logvar = conv(h, p + "quant_conv").chunk(2, dim=1)
    return mean, torch.clamp(logvar, -30.0, 20.0)


def rel_err(ours, ref):
    return float(np.abs(ours - ref).max() / max(1e-6, np.abs(ref).max()))


def main():
    ckpt, work, heads_unet, heads_text = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    clip_skip = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    SD.update(load_safetensors(ckpt))
    load = lambda name: np.load(f"{work}/{name}.npy")
    torch.set_num_threads(2)
    with torch.no_grad():
        text = text_model(torch.from_numpy(load("tokens").astype(np.int64)), heads_text, clip_skip).numpy()
        eps = unet(torch.from_numpy(load("x")), torch.from_numpy(load("t")), torch.from_numpy(load("ctx")), heads_unet).numpy()
        image = vae_decode(torch.from_numpy(load("z")), 0.18215).numpy()
    errors = {"text": rel_err(load("text"), text), "eps": rel_err(load("eps"), eps), "image": rel_err(load("image"), image)}
    for k, v in errors.items():
        print(f"max_rel_err {k} {v:.3e}")
    sys.exit(0 if all(v < 1e-4 for v in errors.values()) else 1)


if __name__ == "__main__":
    main()
