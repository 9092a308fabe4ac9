#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/: small real inputs for each fuzz target.

Run with a Python that has Pillow (the project's .venv): python fuzz/make_corpus.py
The files are committed; this script says where they came from and makes them again. Inputs
that found a bug are kept beside them (named for the bug) and are not made here.
"""
import base64
import io
import json
import os
import struct
import zlib

from PIL import Image, PngImagePlugin

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    folder = os.path.join(ROOT, target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def gradient(mode, size=(8, 6)):
    im = Image.new("RGBA", size)
    w, h = size
    im.putdata([(x * 255 // w, y * 255 // h, (x + y) * 20 % 256, 255 - x * 30 % 256)
                for y in range(h) for x in range(w)])
    return im.convert(mode)


def png(im, **kw):
    out = io.BytesIO()
    im.save(out, "PNG", **kw)
    return out.getvalue()


INFOTEXT = ("a lighthouse on a cliff, (dramatic sky:1.2), [storm:sunset:0.5]\n"
            "Negative prompt: blurry, low quality\n"
            "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234, Size: 512x512, "
            "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.7, "
            "Hires upscale: 2, Hires upscaler: Latent, Lora hashes: \"fox: 1a2b3c4d5e6f\", Version: v1.9.4")


def images():
    """PNG, JPEG and WebP files as requests carry them."""
    out = {}
    out["rgb.png"] = png(gradient("RGB"))
    out["rgba.png"] = png(gradient("RGBA"))
    out["gray.png"] = png(gradient("L"))
    out["gray_alpha.png"] = png(gradient("LA"))
    out["palette_trns.png"] = png(gradient("RGBA").convert("P"), transparency=0)
    out["palette.png"] = png(gradient("RGB").convert("P", palette=Image.ADAPTIVE, colors=16))
    out["bilevel.png"] = png(gradient("1"))
    out["gray16.png"] = png(gradient("L").convert("I;16"))
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", INFOTEXT)
    info.add_itxt("Comment", "ünïcode prompt, 猫")
    info.add_text("Software", "sdworker", zip=True)
    out["infotext.png"] = png(gradient("RGB"), pnginfo=info)
    # 16-bit RGB with a colour key, written by hand (PIL does not write 16-bit RGB).
    raw = b"".join(b"\x00" + b"".join(struct.pack(">HHH", x * 8000, y * 9000, 300) for x in range(4)) for y in range(3))
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    out["rgb16_trns.png"] = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 3, 16, 2, 0, 0, 0)) +
                             chunk(b"tRNS", struct.pack(">HHH", 0, 0, 300)) +
                             chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    for name, mode, kw in [("baseline.jpg", "RGB", {}), ("progressive.jpg", "RGB", {"progressive": True}),
                           ("gray.jpg", "L", {}), ("cmyk.jpg", "CMYK", {})]:
        b = io.BytesIO()
        gradient(mode).save(b, "JPEG", quality=80, **kw)
        out[name] = b.getvalue()
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotated 90° clockwise
    b = io.BytesIO()
    gradient("RGB").save(b, "JPEG", quality=80, exif=exif.tobytes())
    out["exif_rotated.jpg"] = b.getvalue()
    for name, mode, kw in [("lossy.webp", "RGB", {"quality": 60}), ("lossless.webp", "RGBA", {"lossless": True}),
                           ("alpha.webp", "RGBA", {"quality": 60})]:
        b = io.BytesIO()
        gradient(mode).save(b, "WEBP", **kw)
        out[name] = b.getvalue()
    return out


def torch_pickles():
    """torch.save files (torch and numpy from the .venv): data.pkl of the zip format, and whole legacy streams."""
    import collections
    import pickle
    import zipfile

    import numpy as np
    import torch

    g = torch.Generator().manual_seed(0)
    state = collections.OrderedDict(
        [("conv.weight", torch.randn(2, 3, 1, 1, generator=g)), ("conv.bias", torch.zeros(2, dtype=torch.float16)),
         ("ids", torch.arange(4)), ("view", torch.randn(4, 4, generator=g)[1:, ::2])])
    checkpoint = {"state_dict": state, "global_step": np.int64(7), "epoch": 3, "lr": 1e-4, "name": "tiny",
                  "flags": [True, None], "steps": np.array([[1, 2], [3, 4]], dtype=np.float32, order="F"),
                  "dtype": torch.float32}
    embedding = {"string_to_token": {"*": 265}, "string_to_param": {"*": torch.randn(2, 8, generator=g)},
                 "name": "style", "step": 500, "sd_checkpoint": None, "sd_checkpoint_name": None}
    out = {}
    for name, obj in (("checkpoint", checkpoint), ("embedding", embedding), ("tensor", torch.ones(3))):
        buf = io.BytesIO()
        torch.save(obj, buf)
        with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
            out[name + ".pkl"] = next(z.read(n) for n in z.namelist() if n.endswith("data.pkl"))
        buf = io.BytesIO()
        torch.save(obj, buf, _use_new_zipfile_serialization=False)
        out[name + "_legacy.bin"] = buf.getvalue()  # a whole legacy torch.save file
    out["protocol0.pkl"] = pickle.dumps({"a": [1, 2.5, "x"], "b": (None, True)}, protocol=0)
    out["refused_global.pkl"] = b"cos\nsystem\n(S'true'\ntR."
    return out


def main():
    for name, data in torch_pickles().items():
        write("torch_pickle", name, data)

    imgs = images()
    for name, data in imgs.items():
        if name.endswith(".png"):
            write("png", name, data)
        write("image_decode", name, data)
    write("image_decode", "data_url.txt", "data:image/png;base64," + base64.b64encode(imgs["rgb.png"]).decode())
    write("image_decode", "base64.txt", base64.b64encode(imgs["lossy.webp"]).decode())

    init = base64.b64encode(imgs["rgb.png"]).decode()
    mask = "data:image/png;base64," + base64.b64encode(imgs["gray.png"]).decode()
    requests = {
        "txt2img.json": {"prompt": "a lighthouse on a cliff at sunset, (dramatic sky:1.2), detailed",
                         "negative_prompt": "blurry, low quality", "seed": 1234, "steps": 8, "cfg_scale": 7,
                         "width": 128, "height": 128, "sampler_name": "Euler a",
                         "override_settings": {"randn_source": "CPU"}},
        "coerced.json": {"prompt": "a fox", "steps": "20", "cfg_scale": "7.5", "width": 512.0, "seed": None,
                         "restore_faces": "true", "tiling": 0, "styles": ["cinematic"], "n_iter": 2,
                         "batch_size": 2, "subseed": 7, "subseed_strength": 0.25, "seed_resize_from_h": 256,
                         "seed_resize_from_w": 256, "eta": 0.5, "s_churn": 1, "s_noise": 1.003},
        "hires.json": {"prompt": "castle <lora:fox:0.8>", "enable_hr": True, "hr_scale": 1.5,
                       "hr_upscaler": "Latent (nearest-exact)", "hr_second_pass_steps": 10, "denoising_strength": 0.6,
                       "hr_prompt": "castle, detailed", "hr_sampler_name": "DPM++ 2M", "hr_scheduler": "Karras",
                       "scheduler": "karras", "sampler_name": "DPM++ 2M SDE", "comments": {"a": 1}},
        "runpod_input.json": {"input": {"prompt": "a red fox in the snow", "seed": 42, "steps": 20,
                                        "sampler_name": "DPM++ 2M", "scheduler": "karras"}},
        "runpod_api.json": {"input": {"api": {"method": "POST", "endpoint": "/sdapi/v1/txt2img"},
                                      "payload": {"prompt": "a cat", "steps": 4, "width": 64, "height": 64}}},
        "runpod_api_img2img.json": {"input": {"api": {"method": "post", "endpoint": "sdapi/v1/IMG2IMG/"},
                                              "payload": {"prompt": "a cat", "init_images": [init],
                                                          "denoising_strength": 0.5}}},
        "img2img_inpaint.json": {"prompt": "a dog", "init_images": ["data:image/png;base64," + init], "mask": mask,
                                 "mask_blur": 4, "inpainting_fill": 1, "inpaint_full_res": False,
                                 "inpaint_full_res_padding": 32, "inpainting_mask_invert": 1, "resize_mode": 2,
                                 "include_init_images": True, "initial_noise_multiplier": 1.0},
        "sd_upscale.json": {"prompt": "a house", "init_images": [init], "script_name": "SD upscale",
                            "script_args": [None, 16, 1, 2.0], "width": 64, "height": 64},
        "alwayson.json": {"prompt": "x", "alwayson_scripts": {"Refiner": {"args": [False, "", 0.8]},
                                                              "Seed": {"args": [-1, False, -1, 0, 0, 0]}},
                          "override_settings": {"CLIP_stop_at_last_layers": 2, "sd_vae": "None"},
                          "override_settings_restore_afterwards": False},
        "options.json": {"input": {"api": {"method": "GET", "endpoint": "options"}}},
    }
    for name, body in requests.items():
        write("a1111_request", name, json.dumps(body))
        write("json", name, json.dumps(body))
    write("json", "python_style.json", '{"a": 1.0, "b": "\\u00e9\\ud83e\\udd8a", "c": [true, false, null], '
                                       '"d": -0.0, "e": 1e-05, "f": 12345678901234567890, "a": 2}')
    write("json", "nested.json", "[[[[{\"k\":[1,2,{\"x\":\"y\"}]}]]]]")
    write("json", "bad.json", '{"a": [1, 2,, 3]}')

    job = {"id": "sync-1b4e28ba-2fa1-41d2-883f-0016d3cca427", "input": requests["txt2img.json"]}
    takes = {
        "job.json": job,
        "job_api.json": {"id": "job-2", "input": requests["runpod_api.json"]["input"], "webhook": "https://x/hook"},
        "batch.json": [job, {"id": "job-3", "input": {"prompt": "b"}, "batchId": "b-1"},
                       {"id": "job-4"}, {"input": {"prompt": "no id"}}],
        "no_input.json": {"id": "job-5", "s3Config": {"bucket": "b"}},
        "img2img_job.json": {"id": "job-6", "input": requests["runpod_api_img2img.json"]["input"]},
        "handler_error.json": {"error": "CUDA out of memory", "refresh_worker": True, "info": "x"},
        "empty.json": {},
    }
    for name, body in takes.items():
        write("runpod_take", name, json.dumps(body))

    header = {"__metadata__": {"format": "pt", "ss_network_dim": "4"},
              "lora_unet_down.lora_down.weight": {"dtype": "F16", "shape": [4, 8], "data_offsets": [0, 64]},
              "lora_unet_down.alpha": {"dtype": "F32", "shape": [], "data_offsets": [64, 68]},
              "ids": {"dtype": "I64", "shape": [1, 2], "data_offsets": [72, 88]},
              "empty": {"dtype": "BF16", "shape": [0, 3], "data_offsets": [88, 88]},
              "flag": {"dtype": "BOOL", "shape": [2], "data_offsets": [68, 70]}}
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - len(text) % 8) % 8)
    write("safetensors_header", "lora.st", struct.pack("<Q", len(text)) + text.encode() + bytes(range(88)))
    small = '{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}'
    write("safetensors_header", "one_tensor.st", struct.pack("<Q", len(small)) + small.encode() + bytes(16))
    write("safetensors_header", "pickle.st", b"PK\x03\x04" + bytes(20))

    prompts = {
        "emphasis.txt": "a (red:1.3) fox, ((snow)), [blurry], \\(literal\\), (unclosed",
        "break_and.txt": "a castle BREAK a moat AND a dragon:0.7 AND a knight :1.2",
        "schedule.txt": "a [cat:dog:0.5] in a [forest|desert|city] [at night::10] [:sunrise:3]",
        "nested.txt": "[[a:b:2]:[c|d]:0.3] ((x:1.1)) [e:[f:g:5]:7]",
        "comments.txt": "# a comment line\na fox # trailing comment\nin the snow",
        "weights.txt": "(a:1.2.3) (b:-0.5) (c:1e3) <lora:fox:0.8> <hypernet:net:0.5>",
        "unicode.txt": "猫　と　犬 (ü:1.1) [α|β|γ]",
    }
    for name, text in prompts.items():
        # The fuzzer reads two option bytes first: 20 steps, then 0 hires steps (new scheduling).
        write("prompt", name, bytes([19, 0]) + text.encode())
    write("prompt", "hires_old.txt", bytes([29, 15]) + prompts["schedule.txt"].encode())

    infotexts = {
        "full.txt": INFOTEXT,
        "styles.txt": "cinematic still of a fox, film grain, sharp focus\nNegative prompt: cartoon\n"
                      "Steps: 20, Seed: 1, Size: 512x768, Styles array: [\"cinematic\", \"sharp\"]",
        "hires_old.txt": "a cat\nSteps: 3, Seed: 4, Hypernet: net, Hypernet strength: 0.5, First pass size: 0x0, "
                         "Size: 1024x1024, Version: 1.5.0",
        "quoted.txt": "a \"quoted\" prompt\nSteps: 3, Seed: 4, Template: \"a, b\\\"c\", "
                      "Hires resize: 1024x768, RNG: NV, Emphasis: No norm",
        "no_params.txt": "just a prompt\nwith two lines",
    }
    for name, text in infotexts.items():
        write("infotext", name, bytes([3]) + text.encode())


if __name__ == "__main__":
    main()
