"""Writes torch.save files for torch_file_test with the real torch, and beside each good file
<name>.expected.safetensors: every tensor under its flattened key (nested keys joined with '.'),
and every plain value in the metadata as "none", "bool:0|1", "int:N", "float:<hex>" or "str:...".
Also writes files that must be refused (code that would run, modules, damaged archives).

usage: torch_file_reference.py <out_dir>
"""
import collections
import io
import json
import os
import pickle
import struct
import sys
import zipfile

import torch

out = sys.argv[1]
torch.manual_seed(7)

ST_DTYPES = {torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32", torch.float64: "F64",
             torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
             torch.uint8: "U8", torch.bool: "BOOL"}


def flatten(obj, prefix, tensors, scalars):
    key = lambda k: str(k) if not prefix else prefix + "." + str(k)
    if isinstance(obj, dict):
        for k, v in obj.items():
            flatten(v, key(k), tensors, scalars)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            flatten(v, key(i), tensors, scalars)
    elif isinstance(obj, torch.Tensor):
        tensors[prefix] = obj.detach()
    elif obj is None:
        scalars[prefix] = "none"
    elif isinstance(obj, bool):
        scalars[prefix] = "bool:%d" % obj
    elif isinstance(obj, int):
        scalars[prefix] = "int:%d" % obj
    elif isinstance(obj, float):
        scalars[prefix] = "float:" + obj.hex()
    elif isinstance(obj, str):
        scalars[prefix] = "str:" + obj
    else:
        raise TypeError(type(obj))


def write_safetensors(path, tensors, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        data = t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        header[name] = {"dtype": ST_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    if len(text) % 256 == 0x80:  # the length would start like a pickle (0x80 0x02..0x05), which readers refuse
        text += b" " * 8
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def save_good(name, obj, legacy=False):
    path = os.path.join(out, name)
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    tensors, scalars = {}, {}
    flatten(obj, "", tensors, scalars)
    write_safetensors(path + ".expected.safetensors", tensors, scalars)


# An A1111 textual-inversion embedding (modules/textual_inversion/textual_inversion.py, save()).
vec = torch.randn(2, 768).requires_grad_(True)
embedding = {"string_to_token": {"*": 265}, "string_to_param": {"*": vec}, "name": "x", "step": 5,
             "sd_checkpoint": None, "sd_checkpoint_name": None}
save_good("embedding.pt", embedding)

# A real module's state dict (an OrderedDict with _metadata; parameters, buffers, a 0-d int64 buffer).
module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.PReLU(4), torch.nn.BatchNorm2d(4))
module[2].running_mean.uniform_()
module[2].num_batches_tracked += 3
state = module.state_dict()
assert hasattr(state, "_metadata")
save_good("state_dict.pth", state)
# The same as nn.Parameter objects (torch._utils._rebuild_parameter).
parameters = collections.OrderedDict(module.named_parameters())
parameters["with_state"] = torch.nn.Parameter(torch.randn(3))
parameters["with_state"].note = "an attribute"  # saved through torch._utils._rebuild_parameter_with_state
save_good("parameters.pth", parameters)
# ESRGAN-style: the weights under "params_ema".
save_good("params_ema.pth", {"params_ema": state, "params": state})

# Every element type, half and bfloat16 among them.
base = torch.randn(3, 5)
save_good("dtypes.pt", {"f16": base.half(), "bf16": base.bfloat16(), "f32": base, "f64": base.double(),
                        "i64": torch.arange(-4, 4), "i32": torch.arange(-4, 4, dtype=torch.int32),
                        "i16": torch.arange(-4, 4, dtype=torch.int16), "i8": torch.arange(-4, 4, dtype=torch.int8),
                        "u8": torch.arange(250, 256, dtype=torch.uint8), "bool": torch.tensor([True, False, True]),
                        "empty": torch.zeros(0, 4), "scalar": torch.tensor(2.5)})

# Views that share one storage: a slice (offset + strides), a transposed tensor, a strided step.
grid = torch.arange(60, dtype=torch.float32).reshape(6, 10)
views = {"base": grid, "slice": grid[2:5, 3:8], "transposed": grid.t(), "step": grid[:, ::3],
         "row": grid[4], "nested": [grid[1:3, 1:3], 7, "seven", (2.5, None, True, -1)], "big": 2**40,
         "shape": grid.shape}  # torch.Size
save_good("views.pt", views)
# A lone tensor (key "").
save_good("tensor.pt", grid[1:4].t())

# The legacy format of torch < 1.6.
save_good("legacy.pth", {"params_ema": state, "views": views}, legacy=True)
save_good("legacy_embedding.pt", embedding, legacy=True)
save_good("legacy_state_dict.pth", state, legacy=True)
save_good("legacy_views.pt", views, legacy=True)


class FakeStorage:
    def __init__(self, pid):
        self.pid = pid


class Rebuild:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


class LegacyPickler(pickle.Pickler):
    def persistent_id(self, obj):
        return obj.pid if isinstance(obj, FakeStorage) else None


# What torch < 1.0 wrote and torch 2 no longer does: a storage view (view_metadata) and _rebuild_tensor.
# The expected values are what torch.load makes of the file.
def write_old_legacy(path):
    root = torch.arange(8, dtype=torch.float32)
    view = FakeStorage(("storage", torch.FloatStorage, "0", "cpu", 8, ("1", 2, 5)))  # elements 2..6
    whole = FakeStorage(("storage", torch.FloatStorage, "0", "cpu", 8, None))
    obj = {"v2": Rebuild(torch._utils._rebuild_tensor_v2, (view, 1, (2, 2), (1, 2), False, collections.OrderedDict())),
           "v1": Rebuild(torch._utils._rebuild_tensor, (whole, 0, (8,), (1,)))}
    with open(path, "wb") as f:
        f.write(pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2))
        f.write(pickle.dumps(1001, protocol=2))
        f.write(pickle.dumps({"protocol_version": 1001, "little_endian": True,
                              "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2))
        LegacyPickler(f, protocol=2).dump(obj)
        f.write(pickle.dumps(["0"], protocol=2))
        f.write(struct.pack("<q", 8) + root.numpy().tobytes())
    loaded = torch.load(path, weights_only=False)
    assert loaded["v2"].tolist() == [[3.0, 5.0], [4.0, 6.0]], loaded
    tensors, scalars = {}, {}
    flatten(loaded, "", tensors, scalars)
    write_safetensors(path + ".expected.safetensors", tensors, scalars)


write_old_legacy(os.path.join(out, "legacy_storage_view.pt"))


class RunsCode:
    """Unpickling this with Python would run a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ("touch " + self.marker,))


marker = os.path.join(out, "MARKER")
torch.save({"weight": torch.ones(2), "payload": RunsCode(marker)}, os.path.join(out, "evil.pt"))
torch.save({"payload": RunsCode(marker)}, os.path.join(out, "evil_legacy.pt"), _use_new_zipfile_serialization=False)
with open(os.path.join(out, "evil_eval.pt"), "wb") as f:
    f.write(b"\x80\x02cbuiltins\neval\nX\x0e\x00\x00\x00print('owned')\x85R.")
torch.save(torch.nn.ParameterDict({"a": torch.nn.Parameter(torch.ones(2))}), os.path.join(out, "parameter_dict.pt"))
torch.save(torch.nn.Linear(2, 2), os.path.join(out, "module.pt"))
torch.save(torch.nn.Linear(2, 2), os.path.join(out, "module_legacy.pt"), _use_new_zipfile_serialization=False)
assert not os.path.exists(marker)


# Damaged zips: a real archive with one record replaced.
template = os.path.join(out, "tensor.pt")


def crafted(name, replace):
    src = zipfile.ZipFile(template)
    with zipfile.ZipFile(os.path.join(out, name), "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            short = info.filename.split("/", 1)[1]
            dst.writestr(info.filename, replace.get(short, src.read(info.filename)))
        for short, data in replace.items():
            if short not in [i.filename.split("/", 1)[1] for i in src.infolist()]:
                dst.writestr("archive/" + short, data)


def tensor_pickle(size, stride, numel, offset=0, dtype="FloatStorage"):
    """data.pkl of a lone tensor on storage '0' of `numel` elements."""
    p = io.BytesIO()
    p.write(b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(")
    p.write(b"(X\x07\x00\x00\x00storagectorch\n" + dtype.encode() + b"\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpu")
    p.write(b"\x8a\x08" + struct.pack("<q", numel) + b"tQ")
    p.write(b"\x8a\x08" + struct.pack("<q", offset))
    p.write(b"(" + b"".join(b"\x8a\x08" + struct.pack("<q", s) for s in size) + b"t")
    p.write(b"(" + b"".join(b"\x8a\x08" + struct.pack("<q", s) for s in stride) + b"t")
    p.write(b"\x89ccollections\nOrderedDict\n)Rt")
    p.write(b"R.")
    return p.getvalue()


four = struct.pack("<4f", 1, 2, 3, 4)
crafted("crafted_ok.pt", {"data.pkl": tensor_pickle([2, 2], [1, 2], 4), "data/0": four})
crafted("crafted_short_storage.pt", {"data.pkl": tensor_pickle([5], [1], 4), "data/0": four})
crafted("crafted_offset_past_end.pt", {"data.pkl": tensor_pickle([2], [1], 4, offset=3), "data/0": four})
crafted("crafted_absurd_size.pt", {"data.pkl": tensor_pickle([2**40, 2**40], [0, 0], 4), "data/0": four})
crafted("crafted_record_mismatch.pt", {"data.pkl": tensor_pickle([4], [1], 1000), "data/0": four})
crafted("crafted_negative_stride.pt", {"data.pkl": tensor_pickle([2], [-1], 4), "data/0": four})
crafted("crafted_empty_stack.pt", {"data.pkl": b"\x80\x02."})
crafted("crafted_memo.pt", {"data.pkl": b"\x80\x02]q\x00h\x05."})
crafted("crafted_no_stop.pt", {"data.pkl": b"\x80\x02}q\x00(X\x01\x00\x00\x00aK\x01u"})
crafted("crafted_unknown_opcode.pt", {"data.pkl": b"\x80\x02\x96."})
crafted("crafted_setitems_on_list.pt", {"data.pkl": b"\x80\x02](X\x01\x00\x00\x00aK\x01u."})
nested = []
for _ in range(200):
    nested = [nested]
crafted("crafted_deep.pt", {"data.pkl": pickle.dumps(nested, protocol=2)})
cycle = b"\x80\x02]q\x00h\x00a."  # a list that holds itself
crafted("crafted_cycle.pt", {"data.pkl": cycle})
crafted("crafted_big_endian.pt", {"byteorder": b"big"})
crafted("crafted_odd_byteorder.pt", {"byteorder": b"middle"})
crafted("crafted_protocol5.pt", {"data.pkl": b"\x80\x05\x95\x0a\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x03s."})
with open(os.path.join(out, "not_torch.pt"), "wb") as f:
    f.write(b"hello, this is not a pickle")
with open(os.path.join(out, "fake.tar"), "wb") as f:
    f.write(b"\0" * 257 + b"ustar\x0000" + b"\0" * 250)
