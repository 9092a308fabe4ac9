"""An independent merge of LoRA and LyCORIS files into an SD1, SD2 or SDXL checkpoint, written from A1111
1.9.4's Lora extension (network.py finalize_updown, network_lora/hada/lokr/full/norm/ia3/glora.py,
lyco_helpers.py, networks.py network_apply_weights): the kohya -> CompVis layer names; per kind
the weight delta, reshaped to the weight, times scale (a `scale` key, else alpha / dim where the
kind has a dim, else 1), DoRA's column renormalisation when a `dora_scale` is given, times the te
multiplier for text-encoder layers and the unet one for the rest; bias deltas (`diff_b`,
`b_norm`) times the multiplier only. Files are merged one after the other, each module seeing
the weights earlier ones left. OFT modules are skipped. OpenCLIP attention (SD2, SDXL's second
encoder) is a MultiheadAttention: its q/k/v deltas go to the thirds of in_proj_weight, and only
when the file has q, k, v and out_proj for it (network_apply_weights).

Usage: lora_reference.py CHECKPOINT OUT LORA TE UNET [LORA TE UNET ...]
Writes OUT, the checkpoint with the files merged (float32), and prints how many modules were merged.

Or: lora_reference.py --make-extra CHECKPOINT OUT SEED
Writes OUT, a random file for the checkpoint's layers with the kinds make-lora does not write:
IA3 (on outputs and on inputs), GLoRA, LoRA with DoRA's dora_scale, and one OFT module.
"""
import json
import re
import struct
import sys

import numpy as np
import torch

DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
NAMES = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for key, v in header.items():
        begin, end = v["data_offsets"]
        arr = np.frombuffer(data[8 + n + begin:8 + n + end], dtype=DTYPES[v["dtype"]]).reshape(v["shape"])
        out[key] = torch.from_numpy(arr.copy())
    return out, meta


def write(path, tensors, meta):
    header, blobs, offset = {"__metadata__": meta}, [], 0
    for key in sorted(tensors):
        arr = tensors[key].numpy()
        raw = arr.tobytes()
        header[key] = {"dtype": NAMES[arr.dtype], "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


RESNET = {"conv1": "in_layers_2", "conv2": "out_layers_3", "norm1": "in_layers_0", "norm2": "out_layers_0",
          "time_emb_proj": "emb_layers_1", "conv_shortcut": "skip_connection"}


def open_clip_name(prefix, m):
    rest = m[2]
    if "mlp_fc1" in rest:
        rest = rest.replace("mlp_fc1", "mlp_c_fc")
    elif "mlp_fc2" in rest:
        rest = rest.replace("mlp_fc2", "mlp_c_proj")
    else:
        rest = rest.replace("self_attn", "attn")
    return f"{prefix}transformer_resblocks_{m[1]}_{rest}"


def to_compvis(k, sd2=False):
    rules = [
        (r"lora_unet_conv_in(.*)", lambda m: "diffusion_model_input_blocks_0_0" + m[1]),
        (r"lora_unet_conv_out(.*)", lambda m: "diffusion_model_out_2" + m[1]),
        (r"lora_unet_time_embedding_linear_(\d+)(.*)", lambda m: f"diffusion_model_time_embed_{2 * int(m[1]) - 2}{m[2]}"),
        (r"lora_unet_down_blocks_(\d+)_(attentions|resnets)_(\d+)_(.+)",
         lambda m: f"diffusion_model_input_blocks_{1 + 3 * int(m[1]) + int(m[3])}_{int(m[2] == 'attentions')}_"
                   + (RESNET.get(m[4], m[4]) if m[2] == "resnets" else m[4])),
        (r"lora_unet_mid_block_(attentions|resnets)_(\d+)_(.+)",
         lambda m: f"diffusion_model_middle_block_{1 if m[1] == 'attentions' else 2 * int(m[2])}_"
                   + (RESNET.get(m[3], m[3]) if m[1] == "resnets" else m[3])),
        (r"lora_unet_up_blocks_(\d+)_(attentions|resnets)_(\d+)_(.+)",
         lambda m: f"diffusion_model_output_blocks_{3 * int(m[1]) + int(m[3])}_{int(m[2] == 'attentions')}_"
                   + (RESNET.get(m[4], m[4]) if m[2] == "resnets" else m[4])),
        (r"lora_unet_down_blocks_(\d+)_downsamplers_0_conv", lambda m: f"diffusion_model_input_blocks_{3 + 3 * int(m[1])}_0_op"),
        (r"lora_unet_up_blocks_(\d+)_upsamplers_0_conv",
         lambda m: f"diffusion_model_output_blocks_{2 + 3 * int(m[1])}_{2 if int(m[1]) > 0 else 1}_conv"),
        (r"lora_te_text_model_encoder_layers_(\d+)_(.+)",
         lambda m: open_clip_name("model_", m) if sd2 else f"transformer_text_model_encoder_layers_{m[1]}_{m[2]}"),
        (r"lora_te2_text_model_encoder_layers_(\d+)_(.+)", lambda m: open_clip_name("1_model_", m)),
    ]
    for pattern, make in rules:
        m = re.match(pattern, k)
        if m:
            return make(m)
    return k


TEXT_PREFIXES = [("cond_stage_model.transformer.", "transformer_"), ("cond_stage_model.model.", "model_"),
                 ("conditioner.embedders.0.transformer.", "0_transformer_"), ("conditioner.embedders.1.model.", "1_model_")]


def model_layers(sd):
    """Layer name -> (weight key, bias key or None, rows of the weight or None, attention module or None)
    for the modules A1111 patches (not embeddings)."""
    layers = {}
    for key in sd:
        if key.endswith(".attn.in_proj_weight"):
            for prefix, name in TEXT_PREFIXES:
                if key.startswith(prefix):
                    attn = name + key[len(prefix):-len(".in_proj_weight")].replace(".", "_")
                    third = sd[key].shape[0] // 3
                    for i, part in enumerate(("q", "k", "v")):
                        layers[f"{attn}_{part}_proj"] = (key, None, (i * third, (i + 1) * third), attn)
            continue
        if not key.endswith(".weight") or "embedding" in key:
            continue
        module = key[: -len(".weight")]
        bias = module + ".bias" if module + ".bias" in sd else None
        if module.startswith("model.diffusion_model."):
            layers[module[len("model."):].replace(".", "_")] = (key, bias, None, None)
            continue
        for prefix, name in TEXT_PREFIXES:
            if module.startswith(prefix):
                layer = name + module[len(prefix):].replace(".", "_")
                attn = layer[: -len("_out_proj")] if module.endswith(".attn.out_proj") else None
                layers[layer] = (key, bias, None, attn)
    return layers


def find_layer(prefix, layers):
    sd2 = any(n.startswith("model_transformer_resblocks_") for n in layers)
    name = to_compvis(prefix, sd2)
    if name in layers:
        return name
    if "lora_unet" in prefix:
        name = prefix.replace("lora_unet", "diffusion_model")
    elif "lora_te1_text_model" in prefix:
        name = prefix.replace("lora_te1_text_model", "0_transformer_text_model")
        if name not in layers:
            name = prefix.replace("lora_te1_text_model", "transformer_text_model")
    return name if name in layers else None


def matmul_rebuild(up, down, shape):
    return (up.reshape(up.shape[0], -1) @ down.reshape(down.shape[0], -1)).reshape(shape)


def tucker(core, wa, wb):
    # core [r, r, kh, kw], wa [r, out], wb [r, in] -> [out, in, kh, kw]
    return torch.einsum("abkl,ao,bi->oikl", core, wa, wb)


def updown_of(p, w):
    """(delta, output shape, bias delta, dim) of one module `p` for the current weight `w`."""
    if "lora_up.weight" in p and "lora_down.weight" in p:
        up, down = p["lora_up.weight"], p["lora_down.weight"]
        shape = [up.shape[0], down.shape[1]]
        if "lora_mid.weight" in p:
            mid = p["lora_mid.weight"]
            shape += list(mid.shape[2:])
            delta = torch.einsum("abkl,oa,bi->oikl", mid, up.reshape(up.shape[0], -1), down.reshape(down.shape[0], -1))
        else:
            shape += list(down.shape[2:]) if down.dim() == 4 else []
            delta = matmul_rebuild(up, down, shape)
        return delta, shape, None, down.shape[0]
    if all(k in p for k in ("hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b")):
        w1a, w1b, w2a, w2b = p["hada_w1_a"], p["hada_w1_b"], p["hada_w2_a"], p["hada_w2_b"]
        if "hada_t1" in p:
            shape = [w1a.shape[1], w1b.shape[1]] + list(p["hada_t1"].shape[2:])
            first = tucker(p["hada_t1"], w1a, w1b)
        else:
            shape = [w1a.shape[0], w1b.shape[1]] + (list(w1b.shape[2:]) if w1b.dim() == 4 else [])
            first = matmul_rebuild(w1a, w1b, shape)
        second = tucker(p["hada_t2"], w2a, w2b) if "hada_t2" in p else matmul_rebuild(w2a, w2b, shape)
        return first * second, shape, None, w1b.shape[0]
    if "weight" in p:  # IA3
        scale = p["weight"]
        if float(p["on_input"]):
            shape = [w.shape[1], scale.shape[0]]
        else:
            shape = [scale.shape[0], w.shape[1]]
            scale = scale.reshape(-1, 1)
        return w * scale, shape, None, None
    has1 = "lokr_w1" in p or ("lokr_w1_a" in p and "lokr_w1_b" in p)
    has2 = "lokr_w2" in p or ("lokr_w2_a" in p and "lokr_w2_b" in p)
    if has1 and has2:
        dim = None
        if "lokr_w1_b" in p:
            dim = p["lokr_w1_b"].shape[0]
        if "lokr_w2_b" in p:
            dim = p["lokr_w2_b"].shape[0]
        a = p["lokr_w1"] if "lokr_w1" in p else p["lokr_w1_a"] @ p["lokr_w1_b"]
        if "lokr_w2" in p:
            b = p["lokr_w2"]
        elif "lokr_t2" in p:
            b = tucker(p["lokr_t2"], p["lokr_w2_a"], p["lokr_w2_b"])
        else:
            b = p["lokr_w2_a"] @ p["lokr_w2_b"]
        shape = list(w.shape) if w.dim() == 4 else [a.shape[0] * b.shape[0], a.shape[1] * b.shape[1]]
        if b.dim() == 4:
            a = a[:, :, None, None]
        return torch.kron(a, b.contiguous()).reshape(shape), shape, None, dim
    if "diff" in p:
        return p["diff"], list(p["diff"].shape), p.get("diff_b"), None
    if "w_norm" in p and "b_norm" in p:
        return p["w_norm"], list(p["w_norm"].shape), p["b_norm"], None
    if all(k in p for k in ("a1.weight", "a2.weight", "alpha", "b1.weight", "b2.weight")):
        a1, b1, a2, b2 = p["a1.weight"], p["b1.weight"], p["a2.weight"], p["b2.weight"]
        return b2 @ b1 + (w @ a2) @ a1, [a1.shape[0], b1.shape[1]], None, None
    raise ValueError("no network kind takes " + ", ".join(sorted(p)))


def merge(sd, layers, lora_path, te, unet):
    lora, _ = read(lora_path)
    groups = {}
    for key, t in lora.items():
        prefix, part = key.split(".", 1)
        groups.setdefault(prefix, {})[part] = t.float()
    found = {}
    for prefix, p in groups.items():
        name = find_layer(prefix, layers)
        if name is not None and "oft_blocks" not in p and "oft_diag" not in p:
            found[prefix] = name
    # An attention module takes the file's q/k/v/out deltas only when all four are there.
    parts = {}
    for name in found.values():
        if layers[name][3] is not None:
            parts.setdefault(layers[name][3], set()).add(name)
    merged = 0
    for prefix, p in groups.items():
        name = found.get(prefix)
        if name is None:
            continue
        wkey, bkey, rows, attn = layers[name]
        if attn is not None and len(parts[attn]) < 4:
            continue
        w = sd[wkey] if rows is None else sd[wkey][rows[0]:rows[1]]
        delta, shape, bias_delta, dim = updown_of(p, w)
        if "bias" in p:
            delta = (delta.reshape(p["bias"].shape) + p["bias"]).reshape(shape)
        if len(shape) == 4:
            delta = delta.reshape(shape)
        if delta.numel() == w.numel():
            delta = delta.reshape(w.shape)
        if "scale" in p:
            scale = float(p["scale"])
        elif dim is not None and "alpha" in p:
            scale = float(p["alpha"]) / dim
        else:
            scale = 1.0
        delta = delta * scale
        if "dora_scale" in p:
            merged_w = w + delta
            cols = merged_w.transpose(0, 1).reshape(merged_w.shape[1], -1).norm(dim=1, keepdim=True)
            cols = cols.reshape([merged_w.shape[1]] + [1] * (w.dim() - 1)).transpose(0, 1)
            delta = merged_w * (p["dora_scale"] / cols) - w
        multiplier = te if "transformer" in name[:20] else unet
        if rows is None:
            sd[wkey] = w + delta * multiplier
        else:
            whole = sd[wkey].clone()
            whole[rows[0]:rows[1]] = w + delta * multiplier
            sd[wkey] = whole
            bias_delta = None  # the MultiheadAttention path drops q/k/v bias deltas
        if bias_delta is not None:
            sd[bkey] = sd[bkey] + bias_delta * multiplier
        merged += 1
    return merged


def make_extra(ckpt_path, out, seed):
    """IA3 on outputs and inputs, GLoRA, DoRA-scaled LoRA on linear layers; one OFT module."""
    sd, _ = read(ckpt_path)
    g = torch.Generator().manual_seed(seed)
    layers = model_layers(sd)
    linear = sorted(n for n, (k, *_) in layers.items() if sd[k].dim() == 2 and ("attn" in n or "proj" in n))
    tensors = {}
    kohya = {}
    for n in linear:
        m = re.match(r"transformer_text_model_encoder_layers_(\d+)_(.+)", n)
        kohya[n] = f"lora_te_text_model_encoder_layers_{m[1]}_{m[2]}" if m else "lora_unet_" + n[len("diffusion_model_"):]
    for i, n in enumerate(linear[:-1]):
        out_f, in_f = sd[layers[n][0]].shape
        k = kohya[n]
        form = i % 4
        if form == 0:
            tensors[k + ".weight"] = 1 + 0.3 * torch.randn(out_f, generator=g)
            tensors[k + ".on_input"] = torch.tensor(0.0)
        elif form == 1:
            tensors[k + ".weight"] = 1 + 0.3 * torch.randn(in_f, generator=g)
            tensors[k + ".on_input"] = torch.tensor(1.0)
        elif form == 2:
            r = 2
            # A1111's GLoRA adds b2 @ b1 + (W @ a2) @ a1.
            tensors[k + ".a1.weight"] = 0.3 * torch.randn(r, in_f, generator=g)
            tensors[k + ".a2.weight"] = 0.3 * torch.randn(in_f, r, generator=g)
            tensors[k + ".b1.weight"] = 0.3 * torch.randn(r, in_f, generator=g) / in_f ** 0.5
            tensors[k + ".b2.weight"] = 0.3 * torch.randn(out_f, r, generator=g)
            tensors[k + ".alpha"] = torch.tensor(1.0)
        else:
            r = 2
            tensors[k + ".lora_down.weight"] = torch.randn(r, in_f, generator=g) / in_f ** 0.5
            tensors[k + ".lora_up.weight"] = 0.5 * torch.randn(out_f, r, generator=g)
            tensors[k + ".alpha"] = torch.tensor(1.0)
            w = sd[layers[n][0]].float()
            tensors[k + ".dora_scale"] = w.norm(dim=0, keepdim=True) * (1 + 0.2 * torch.rand(1, in_f, generator=g))
    # An OFT module, which is skipped.
    tensors[kohya[linear[-1]] + ".oft_blocks"] = torch.randn(4, 2, 2, generator=g)
    write(out, {k: v.float().contiguous() for k, v in tensors.items()}, {"ss_network_module": "lycoris.kohya"})
    print(f"wrote {len(tensors)} tensors")


def main():
    if sys.argv[1] == "--make-extra":
        make_extra(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    ckpt_path, out = sys.argv[1], sys.argv[2]
    sd, meta = read(ckpt_path)
    sd = {k: (v.float() if v.dtype != torch.int64 else v) for k, v in sd.items()}
    layers = model_layers(sd)
    merged = 0
    rest = sys.argv[3:]
    for i in range(0, len(rest), 3):
        merged += merge(sd, layers, rest[i], float(rest[i + 1]), float(rest[i + 2]))
    write(out, sd, meta)
    print(f"merged {merged} modules")


if __name__ == "__main__":
    main()
