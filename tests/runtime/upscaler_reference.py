"""What A1111 1.9.4's model upscalers make of an image, for tests/runtime/upscaler_models_test.cpp and
the HTTP tests: small random-weight ESRGAN (RRDBNet, old and new key layouts), Real-ESRGAN x2plus
(pixel-unshuffled input) and SRVGGNetCompact networks, written as model files, and the pixels of
modules/upscaler_utils.py upscale_with_model (upscale_pil_patch per tile of images.split_grid,
combine_grid) and of Upscaler.upscale (passes, then Lanczos) with them. The networks here are an
independent re-implementation of spandrel 0.1.6's forward passes in plain torch functions.

usage: upscaler_reference.py OUT_DIR [pth]
Writes OUT_DIR/ESRGAN/*.safetensors and OUT_DIR/RealESRGAN/*.safetensors (with `pth`, also .pth
files in torch.save's zip and legacy formats), OUT_DIR/in.raw (the RGB input),
OUT_DIR/<case>.raw (expected RGB pixels) and OUT_DIR/manifest.txt:
`case upscaler_name tile overlap scale out_w out_h`.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tile_grid_reference import combine_grid, split_grid, Grid  # noqa: E402

IN_W, IN_H = 43, 29


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).contiguous()
        data = t.numpy().astype('<f4').tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


# --- the networks, as spandrel 0.1.6 runs them ------------------------------------------------

def conv(x, sd, key):
    w = sd[key + ".weight"]
    return F.conv2d(x, w, sd.get(key + ".bias"), padding=w.shape[-1] // 2)


def rrdbnet_old(sd, x):
    """RRDBNet over an old-layout state dict (model.0 …)."""
    seq = max(int(k.split(".")[1]) for k in sd if k.startswith("model.")) + 1
    ups = (seq - 5) // 3
    nb = max(int(k.split(".")[3]) for k in sd if k.startswith("model.1.sub."))
    in_nc, out_nc = sd["model.0.weight"].shape[1], sd[f"model.{seq - 1}.weight"].shape[0]
    shuffle = int(math.sqrt(in_nc / out_nc)) if in_nc in (out_nc * 4, out_nc * 16) else 0
    h, w = x.shape[2], x.shape[3]
    if shuffle:
        ph, pw = (shuffle - h % shuffle) % shuffle, (shuffle - w % shuffle) % shuffle
        x = F.pad(x, (0, pw, 0, ph), "reflect")
        x = torch.pixel_unshuffle(x, shuffle)
    lrelu = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
    fea = conv(x, sd, "model.0")
    t = fea
    for b in range(nb):
        inp = t
        for r in (1, 2, 3):
            p = f"model.1.sub.{b}.RDB{r}"
            x0 = t
            x1 = lrelu(conv(x0, sd, p + ".conv1.0"))
            x2 = lrelu(conv(torch.cat((x0, x1), 1), sd, p + ".conv2.0"))
            x3 = lrelu(conv(torch.cat((x0, x1, x2), 1), sd, p + ".conv3.0"))
            x4 = lrelu(conv(torch.cat((x0, x1, x2, x3), 1), sd, p + ".conv4.0"))
            x5 = conv(torch.cat((x0, x1, x2, x3, x4), 1), sd, p + ".conv5.0")
            t = x5 * 0.2 + x0
        t = t * 0.2 + inp
    y = fea + conv(t, sd, f"model.1.sub.{nb}")
    for u in range(ups):
        y = lrelu(conv(F.interpolate(y, scale_factor=2, mode="nearest"), sd, f"model.{3 * (u + 1)}"))
    y = conv(lrelu(conv(y, sd, f"model.{3 * ups + 2}")), sd, f"model.{3 * ups + 4}")
    if shuffle:
        y = y[:, :, : h * 2 ** ups, : w * 2 ** ups]
    return y


def compact(sd, x):
    last = max(int(k.split(".")[1]) for k in sd if k.startswith("body."))
    out = x
    for i in range(last + 1):
        if i % 2 == 0:
            out = F.conv2d(out, sd[f"body.{i}.weight"], sd[f"body.{i}.bias"], padding=1)
        else:
            out = F.prelu(out, sd[f"body.{i}.weight"])
    scale = int(math.sqrt(sd[f"body.{last}.weight"].shape[0] // 3))
    out = F.pixel_shuffle(out, scale)
    return out + F.interpolate(x, scale_factor=scale, mode="nearest")


# --- random weights ------------------------------------------------------------------------------

def conv_weights(gen, sd, key, cin, cout, k=3, gain=1.0):
    sd[key + ".weight"] = torch.randn(cout, cin, k, k, generator=gen) * (gain * math.sqrt(2.0 / (cin * k * k)))
    sd[key + ".bias"] = torch.randn(cout, generator=gen) * 0.05


def make_rrdb(gen, in_nc, nf, gc, nb, ups):
    sd = {}
    conv_weights(gen, sd, "model.0", in_nc, nf)
    for b in range(nb):
        for r in (1, 2, 3):
            p = f"model.1.sub.{b}.RDB{r}"
            for c in range(1, 5):
                conv_weights(gen, sd, f"{p}.conv{c}.0", nf + (c - 1) * gc, gc)
            conv_weights(gen, sd, f"{p}.conv5.0", nf + 4 * gc, nf)
    conv_weights(gen, sd, f"model.1.sub.{nb}", nf, nf)
    for u in range(ups):
        conv_weights(gen, sd, f"model.{3 * (u + 1)}", nf, nf)
    conv_weights(gen, sd, f"model.{3 * ups + 2}", nf, nf)
    conv_weights(gen, sd, f"model.{3 * ups + 4}", nf, 3, gain=0.5)
    return sd


def make_compact(gen, nf, nconv, scale):
    sd = {}
    conv_weights(gen, sd, "body.0", 3, nf)
    sd["body.1.weight"] = torch.rand(nf, generator=gen) * 0.3
    for i in range(nconv):
        conv_weights(gen, sd, f"body.{2 * i + 2}", nf, nf)
        sd[f"body.{2 * i + 3}.weight"] = torch.rand(nf, generator=gen) * 0.3
    conv_weights(gen, sd, f"body.{2 * nconv + 2}", nf, 3 * scale * scale, gain=0.3)
    return sd


def fit_output(sd, net, key_last, x):
    """Scales the last layer so the output spans about 0..1 (random weights would clamp it flat)."""
    with torch.no_grad():
        y = net(sd, x)
        std = float(y.std())
        sd[key_last + ".weight"] = sd[key_last + ".weight"] * (0.3 / max(std, 1e-6))
        y = net(sd, x)
        if sd[key_last + ".bias"].shape[0] == 3:
            sd[key_last + ".bias"] = sd[key_last + ".bias"] + (0.5 - y.mean(dim=(0, 2, 3)))


def new_layout(sd, nb, ups):
    """The same weights under BasicSR's key names (conv_first, body.N.rdbK.convJ, conv_body, conv_upN, conv_hr, conv_last)."""
    out = {}
    for k, v in sd.items():
        p = k.split(".")
        if p[1] == "0":
            out["conv_first." + p[2]] = v
        elif p[1] == "1" and len(p) == 5:
            out["conv_body." + p[4]] = v
        elif p[1] == "1":
            out[f"body.{p[3]}.rdb{p[4][3]}.{p[5]}.{p[7]}"] = v
        else:
            i = int(p[1])
            if i == 3 * ups + 2:
                out["conv_hr." + p[2]] = v
            elif i == 3 * ups + 4:
                out["conv_last." + p[2]] = v
            else:
                out[f"conv_up{i // 3}.{p[2]}"] = v
    return out


# --- A1111's pixels ------------------------------------------------------------------------------

def upscale_pil_patch(net, sd, img):
    arr = np.array(img.convert("RGB"))[:, :, ::-1]
    arr = np.ascontiguousarray(np.transpose(arr, (2, 0, 1))) / 255
    with torch.inference_mode():
        t = torch.from_numpy(arr).unsqueeze(0).to(dtype=torch.float32)
        out = net(sd, t).squeeze(0).float().cpu().clamp_(0, 1).numpy()
    out = 255.0 * np.moveaxis(out, 0, 2)
    out = out.round().astype(np.uint8)[:, :, ::-1]
    return Image.fromarray(out, "RGB")


def upscale_with_model(net, sd, img, tile, overlap):
    if tile <= 0:
        return upscale_pil_patch(net, sd, img)
    grid = split_grid(img, tile, tile, overlap)
    newtiles = []
    for y, h, row in grid.tiles:
        newrow = []
        for x, w, t in row:
            out = upscale_pil_patch(net, sd, t)
            sf = out.width // t.width
            newrow.append([x * sf, w * sf, out])
        newtiles.append([y * sf, h * sf, newrow])
    return combine_grid(Grid(newtiles, grid.tile_w * sf, grid.tile_h * sf, grid.image_w * sf, grid.image_h * sf,
                             grid.overlap * sf))


def upscaler_upscale(net, sd, img, scale, tile, overlap):
    """Upscaler.upscale with a model's do_upscale."""
    dest_w, dest_h = int((img.width * scale) // 8 * 8), int((img.height * scale) // 8 * 8)
    for i in range(3):
        if img.width >= dest_w and img.height >= dest_h and (i > 0 or scale != 1):
            break
        shape = (img.width, img.height)
        img = upscale_with_model(net, sd, img, tile, overlap)
        if shape == (img.width, img.height):
            break
    if img.width != dest_w or img.height != dest_h:
        img = img.resize((int(dest_w), int(dest_h)), resample=Image.LANCZOS)
    return img


def smooth(rng, h, w):
    base = rng.integers(0, 256, size=(h // 4 + 2, w // 4 + 2, 3)).astype(np.uint8)
    arr = np.array(Image.fromarray(base).resize((w, h), Image.BILINEAR)).astype(int)
    return np.clip(arr + rng.integers(-20, 21, size=arr.shape), 0, 255).astype(np.uint8)


def main():
    out_dir = sys.argv[1]
    with_pth = len(sys.argv) > 2 and sys.argv[2] == "pth"
    os.makedirs(os.path.join(out_dir, "ESRGAN"), exist_ok=True)
    os.makedirs(os.path.join(out_dir, "RealESRGAN"), exist_ok=True)
    gen = torch.Generator().manual_seed(11)
    rng = np.random.default_rng(3)
    image = Image.fromarray(smooth(rng, IN_H, IN_W))
    with open(os.path.join(out_dir, "in.raw"), "wb") as f:
        f.write(np.array(image).tobytes())
    probe = torch.from_numpy(np.transpose(np.array(image)[:, :, ::-1], (2, 0, 1)).copy()).float().unsqueeze(0) / 255

    # name in the folder → (network, state dict as the net reads it, what the file holds)
    models = {}
    old4 = make_rrdb(gen, 3, 8, 32, 2, 2)
    fit_output(old4, rrdbnet_old, "model.10", probe)
    models["ESRGAN/tiny-old-x4"] = (rrdbnet_old, old4, old4)
    new2 = make_rrdb(gen, 3, 8, 32, 1, 1)
    fit_output(new2, rrdbnet_old, "model.7", probe)
    models["ESRGAN/tiny-new-x2"] = (rrdbnet_old, new2, new_layout(new2, 1, 1))
    x2plus = make_rrdb(gen, 12, 8, 32, 1, 2)
    fit_output(x2plus, rrdbnet_old, "model.10", probe)
    models["RealESRGAN/RealESRGAN_x2plus"] = (rrdbnet_old, x2plus, new_layout(x2plus, 1, 2))
    comp = make_compact(gen, 8, 2, 4)
    fit_output(comp, compact, "body.6", probe)
    models["RealESRGAN/realesr-general-x4v3"] = (compact, comp, comp)

    for name, (_, _, stored) in models.items():
        write_safetensors(os.path.join(out_dir, name + ".safetensors"), stored)
    if with_pth:
        # The same weights as .pth files (zip and legacy formats), under other names.
        torch.save({k: v.clone() for k, v in old4.items()}, os.path.join(out_dir, "ESRGAN", "tiny-old-x4-zip.pth"))
        torch.save({k: v.clone() for k, v in new_layout(new2, 1, 1).items()},
                   os.path.join(out_dir, "ESRGAN", "tiny-new-x2-legacy.pth"), _use_new_zipfile_serialization=False)
        torch.save({"params": {k: v.clone() for k, v in comp.items()}},
                   os.path.join(out_dir, "RealESRGAN", "realesr-animevideov3.pth"))
        # Real-ESRGAN's own files keep the weights under params_ema.
        torch.save({"params_ema": {k: v.clone() for k, v in new_layout(x2plus, 1, 2).items()}},
                   os.path.join(out_dir, "ESRGAN", "x2plus-ema.pth"))

    labels = {"ESRGAN/tiny-old-x4": "tiny-old-x4", "ESRGAN/tiny-new-x2": "tiny-new-x2",
              "RealESRGAN/RealESRGAN_x2plus": "R-ESRGAN 2x+", "RealESRGAN/realesr-general-x4v3": "R-ESRGAN General 4xV3"}
    cases = []
    for key, label in labels.items():
        net, sd, _ = models[key]
        stem = key.split("/")[1]
        # One pass tiled (the image is larger than a tile, the tiles overlap), one untiled,
        # and Upscaler.upscale to a scale that takes two passes or a Lanczos step down.
        cases.append((stem + "-tiled", label, 16, 4, 0, net, sd))
        cases.append((stem + "-whole", label, 0, 0, 0, net, sd))
        cases.append((stem + "-upscale", label, 24, 6, 2.5 if "x2" in stem else 3.0, net, sd))
    if with_pth:
        cases.append(("pth-zip", "tiny-old-x4-zip", 16, 4, 0, rrdbnet_old, old4))
        cases.append(("pt-legacy", "tiny-new-x2-legacy", 16, 4, 0, rrdbnet_old, new2))
        cases.append(("pth-params", "R-ESRGAN AnimeVideo", 16, 4, 0, compact, comp))
        cases.append(("pth-params-ema", "x2plus-ema", 0, 0, 0, rrdbnet_old, x2plus))
    with open(os.path.join(out_dir, "manifest.txt"), "w") as man:
        for case, label, tile, overlap, scale, net, sd in cases:
            if scale:
                out = upscaler_upscale(net, sd, image, scale, tile, overlap)
            else:
                out = upscale_with_model(net, sd, image, tile, overlap)
            with open(os.path.join(out_dir, case + ".raw"), "wb") as f:
                f.write(np.array(out.convert("RGB")).tobytes())
            man.write(f"{case}\t{label}\t{tile}\t{overlap}\t{scale}\t{out.width}\t{out.height}\n")


if __name__ == "__main__":
    main()
