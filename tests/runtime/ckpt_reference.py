"""Writes .ckpt/.pt files with the real torch.save from a tiny .safetensors checkpoint, for ckpt_load_test.

Usage: ckpt_reference.py <tiny.safetensors> <out dir>
  tiny.ckpt            {"state_dict": every tensor, "global_step": numpy.int64(5)} (zip container)
  tiny_legacy.ckpt     the same in the legacy container (torch < 1.6)
  tiny_oldkeys.ckpt    the text encoder under the old "cond_stage_model.transformer.embeddings." etc. names
  tiny_bare.pth        the tensors at the top level, no state_dict wrapper
  evil.ckpt            the state dict plus an object whose unpickling runs os.system (touching MARKER)
  truncated.ckpt       the first half of tiny.ckpt
  vae.pt               {"state_dict": the first_stage_model.* tensors halved, without the prefix, plus "loss.*"
                        and model_ema.decay tensors A1111 drops}
"""

import json
import os
import struct
import sys

import numpy
import torch

src, out = sys.argv[1], sys.argv[2]

DTYPES = {"F64": numpy.float64, "F32": numpy.float32, "F16": numpy.float16, "I64": numpy.int64,
          "I32": numpy.int32, "U8": numpy.uint8, "BOOL": numpy.bool_}


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    tensors = {}
    for key, v in header.items():
        if key == "__metadata__":
            continue
        begin, end = v["data_offsets"]
        arr = numpy.frombuffer(data[8 + n + begin:8 + n + end], dtype=DTYPES[v["dtype"]]).reshape(v["shape"])
        tensors[key] = torch.from_numpy(arr.copy())
    return tensors


sd = load_safetensors(src)
path = lambda name: os.path.join(out, name)

torch.save({"state_dict": sd, "global_step": numpy.int64(5)}, path("tiny.ckpt"))
torch.save({"state_dict": sd, "global_step": numpy.int64(5)}, path("tiny_legacy.ckpt"),
           _use_new_zipfile_serialization=False)
torch.save(sd, path("tiny_bare.pth"))

new_prefix = "cond_stage_model.transformer.text_model."
old = {}
for key, value in sd.items():
    if key.startswith(new_prefix):
        key = "cond_stage_model.transformer." + key[len(new_prefix):]
    old[key] = value
assert any(k.startswith("cond_stage_model.transformer.embeddings.") for k in old)
torch.save({"state_dict": old}, path("tiny_oldkeys.ckpt"))


class RunsCode:
    """Unpickling this with Python would run a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ("touch " + self.marker,))


torch.save({"state_dict": sd, "payload": RunsCode(path("MARKER"))}, path("evil.ckpt"))
assert not os.path.exists(path("MARKER"))

with open(path("tiny.ckpt"), "rb") as f:
    whole = f.read()
with open(path("truncated.ckpt"), "wb") as f:
    f.write(whole[:len(whole) // 2])

vae_prefix = "first_stage_model."
vae = {k[len(vae_prefix):]: v * 0.5 for k, v in sd.items() if k.startswith(vae_prefix)}
vae["loss.logvar"] = torch.zeros(())
vae["model_ema.decay"] = torch.tensor(0.9999)
torch.save({"state_dict": vae}, path("vae.pt"))
