"""An independent merge of a kohya-ss LoRA / LoCon file into an SD1 checkpoint, written from the
A1111 spec (section 4.6): the kohya -> CompVis layer names, delta = up @ down reshaped to the
weight, times alpha / rank, times the te multiplier for text-encoder layers and the unet one
for the rest.

Usage: lora_reference.py CHECKPOINT LORA TE UNET OUT
Writes OUT, the checkpoint with the LoRA merged (float32), and prints how many layers changed.
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


def to_compvis(k):
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
        (r"lora_te_text_model_encoder_layers_(\d+)_(.+)", lambda m: f"transformer_text_model_encoder_layers_{m[1]}_{m[2]}"),
    ]
    for pattern, make in rules:
        m = re.match(pattern, k)
        if m:
            return make(m)
    return k


def main():
    ckpt_path, lora_path, te, unet, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
    sd, meta = read(ckpt_path)
    sd = {k: (v.float() if v.dtype != torch.int64 else v) for k, v in sd.items()}
    layers = {}
    for key in sd:
        if not key.endswith(".weight"):
            continue
        module = key[: -len(".weight")]
        if module.startswith("model.diffusion_model."):
            layers[module[len("model."):].replace(".", "_")] = key
        elif module.startswith("cond_stage_model.transformer.text_model."):
            layers["transformer_" + module[len("cond_stage_model.transformer."):].replace(".", "_")] = key
    lora, _ = read(lora_path)
    groups = {}
    for key, t in lora.items():
        prefix, part = key.split(".", 1)
        groups.setdefault(prefix, {})[part] = t.float()
    changed = 0
    for prefix, parts in groups.items():
        name = to_compvis(prefix)
        if name not in layers and "lora_unet" in prefix:
            name = prefix.replace("lora_unet", "diffusion_model")
        if name not in layers:
            continue
        key = layers[name]
        w = sd[key]
        up, down = parts["lora_up.weight"], parts["lora_down.weight"]
        rank = down.shape[0]
        delta = (up.reshape(up.shape[0], -1) @ down.reshape(rank, -1)).reshape(w.shape)
        scale = float(parts["alpha"]) / rank if "alpha" in parts else 1.0
        multiplier = te if name.startswith("transformer_") else unet
        sd[key] = w + delta * scale * multiplier
        changed += 1
    write(out, sd, meta)
    print(f"merged {changed} layers")


if __name__ == "__main__":
    main()
