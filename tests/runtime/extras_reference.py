"""What A1111 1.9.4's /sdapi/v1/extra-single-image and /extra-batch-images answer with its built-in
upscalers, computed with Pillow 9.5 as A1111 does it: api.py (decode_base64_to_image,
encode_pil_to_base64), postprocessing.run_postprocessing, scripts/postprocessing_upscale.py
(ScriptPostprocessingUpscale.upscale/process), modules/upscaler.py (Upscaler.upscale, UpscalerLanczos,
UpscalerNearest), images.read_info_from_image and ui_common.plaintext_to_html.

usage: extras_reference.py OUT_DIR
Writes OUT_DIR/<case>.json request bodies, OUT_DIR/<case>.<i>.raw expected RGB pixels and
OUT_DIR/manifest.json: [{"case", "batch", "enable_pnginfo", "html_info",
"images": [{"width", "height", "text": {chunk: value}}]}].
"""
import base64
import html
import io
import json
import os
import sys

import numpy as np
from PIL import Image, PngImagePlugin

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pil_reference import smooth  # noqa: E402

IGNORED_INFO_KEYS = {
    'jfif', 'jfif_version', 'jfif_unit', 'jfif_density', 'dpi', 'exif',
    'loop', 'background', 'timestamp', 'duration', 'progressive', 'progression',
    'icc_profile', 'chromaticity', 'photoshop',
}


def quote(text):
    if ',' not in str(text) and '\n' not in str(text) and ':' not in str(text):
        return text
    return json.dumps(text, ensure_ascii=False)


def read_info_from_image(image):
    items = (image.info or {}).copy()
    geninfo = items.pop('parameters', None)
    if "comment" in items:
        geninfo = items["comment"]
    for field in IGNORED_INFO_KEYS:
        items.pop(field, None)
    return geninfo, items


class Upscaler:
    def __init__(self, name):
        self.name = name
        self.scale = 1

    def do_upscale(self, img):
        method = Image.NEAREST if self.name == "Nearest" else Image.LANCZOS
        return img.resize((int(img.width * self.scale), int(img.height * self.scale)), resample=method)

    def upscale(self, img, scale):
        self.scale = scale
        dest_w = int((img.width * scale) // 8 * 8)
        dest_h = int((img.height * scale) // 8 * 8)
        for i in range(3):
            if img.width >= dest_w and img.height >= dest_h and (i > 0 or scale != 1):
                break
            shape = (img.width, img.height)
            img = self.do_upscale(img)
            if shape == (img.width, img.height):
                break
        if img.width != dest_w or img.height != dest_h:
            img = img.resize((int(dest_w), int(dest_h)), resample=Image.LANCZOS)
        return img


def upscale(image, info, upscaler, upscale_mode, upscale_by, upscale_to_width, upscale_to_height, upscale_crop):
    if upscale_mode == 1:
        upscale_by = max(upscale_to_width / image.width, upscale_to_height / image.height)
        info["Postprocess upscale to"] = f"{upscale_to_width}x{upscale_to_height}"
    else:
        info["Postprocess upscale by"] = upscale_by
    image = upscaler.upscale(image, upscale_by)
    if upscale_mode == 1 and upscale_crop:
        cropped = Image.new("RGB", (upscale_to_width, upscale_to_height))
        cropped.paste(image, box=(upscale_to_width // 2 - image.width // 2, upscale_to_height // 2 - image.height // 2))
        image = cropped
        info["Postprocess crop to"] = f"{image.width}x{image.height}"
    return image


def process(image, info, req):
    # ExtrasBaseRequest's defaults; upscaling_resize stays the int 2 unless sent (pydantic makes it a float).
    name1 = req.get("upscaler_1", "None")
    if name1 == "None":
        return image
    name2 = req.get("upscaler_2", "None")
    mode = req.get("resize_mode", 0)
    by = float(req["upscaling_resize"]) if "upscaling_resize" in req else 2
    w, h = req.get("upscaling_resize_w", 512), req.get("upscaling_resize_h", 512)
    crop = req.get("upscaling_crop", True)
    vis = float(req.get("extras_upscaler_2_visibility", 0))
    out = upscale(image, info, Upscaler(name1), mode, by, w, h, crop)
    info["Postprocess upscaler"] = name1
    if name2 != "None" and vis > 0:
        second = upscale(image, info, Upscaler(name2), mode, by, w, h, crop)
        out = Image.blend(out, second, vis)
        info["Postprocess upscaler 2"] = name2
    return out


def decode(text):
    if text.startswith("data:image/"):
        text = text.split(";")[1].split(",")[1]
    return Image.open(io.BytesIO(base64.b64decode(text)))


def run(req, batch, enable_pnginfo):
    texts = [x["data"] for x in req["imageList"]] if batch else [req["image"]]
    outputs = []
    infotext = ''
    for image_data in [decode(t) for t in texts]:
        parameters, existing_pnginfo = read_info_from_image(image_data)
        if parameters:
            existing_pnginfo["parameters"] = parameters
        info = {}
        image = process(image_data.convert("RGB"), info, req)
        infotext = ", ".join([k if k == v else f'{k}: {quote(v)}' for k, v in info.items() if v is not None])
        if enable_pnginfo:
            image.info = existing_pnginfo
            image.info["postprocessing"] = infotext
        outputs.append(image)
    content = "<br>\n".join(html.escape(x) for x in infotext.split('\n'))
    return outputs, f"<p>{content}</p>"


def encoded_text(image):
    # encode_pil_to_base64: the str items of image.info become text chunks.
    metadata = PngImagePlugin.PngInfo()
    for key, value in image.info.items():
        if isinstance(key, str) and isinstance(value, str):
            metadata.add_text(key, value)
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=metadata)
    return Image.open(io.BytesIO(buf.getvalue())).text


def b64(im, fmt="PNG", **kw):
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return base64.b64encode(buf.getvalue()).decode()


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(11)
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat, sitting\nSteps: 20, Sampler: Euler a, Seed: 1, Size: 53x37")
    info.add_text("Title", "caf\u00e9")
    rgb = b64(Image.fromarray(smooth(rng, 37, 53, 3)), pnginfo=info)
    rgba_arr = smooth(rng, 45, 30, 4)
    rgba_arr[..., 3] = rng.integers(0, 256, size=rgba_arr.shape[:2])
    rgba = b64(Image.fromarray(rgba_arr, "RGBA"))
    gray = b64(Image.fromarray(smooth(rng, 20, 64, 1), "L"))
    jpeg = "data:image/jpeg;base64," + b64(Image.fromarray(smooth(rng, 48, 40, 3)), "JPEG", quality=90)

    cases = [
        ("none", False, True, {"image": rgb}),
        ("lanczos_default", False, True, {"image": rgb, "upscaler_1": "Lanczos"}),
        ("nearest_2_5", False, True, {"image": rgb, "upscaler_1": "Nearest", "upscaling_resize": 2.5}),
        ("blend", False, True, {"image": rgb, "upscaler_1": "Lanczos", "upscaling_resize": 1.3,
                                "upscaler_2": "Nearest", "extras_upscaler_2_visibility": 0.35}),
        ("half", False, True, {"image": rgb, "upscaler_1": "Lanczos", "upscaling_resize": 0.5}),
        ("to_crop", False, True, {"image": rgb, "resize_mode": 1, "upscaler_1": "Lanczos",
                                  "upscaling_resize_w": 128, "upscaling_resize_h": 96}),
        ("to_no_crop", False, True, {"image": rgb, "resize_mode": 1, "upscaler_1": "Nearest",
                                     "upscaling_resize_w": 100, "upscaling_resize_h": 100, "upscaling_crop": False}),
        ("to_crop_blend_rgba", False, True, {"image": rgba, "resize_mode": 1, "upscaler_1": "Lanczos",
                                             "upscaler_2": "Nearest", "extras_upscaler_2_visibility": 0.5,
                                             "upscaling_resize_w": 90, "upscaling_resize_h": 130}),
        ("gray_full_blend", False, True, {"image": gray, "upscaler_1": "Nearest", "upscaler_2": "Lanczos",
                                          "extras_upscaler_2_visibility": 1.0, "upscaling_resize": 3.7}),
        ("jpeg_data_url", False, True, {"image": jpeg, "upscaler_1": "Lanczos", "upscaling_resize": 2}),
        ("no_pnginfo", False, False, {"image": rgb, "upscaler_1": "Lanczos", "upscaling_resize": 1.5}),
        ("batch", True, True, {"imageList": [{"data": rgb, "name": "a.png"}, {"data": rgba, "name": "b.png"}],
                               "upscaler_1": "Lanczos", "upscaling_resize": 1.5}),
    ]
    manifest = []
    for case, batch, enable_pnginfo, req in cases:
        with open(os.path.join(out, case + ".json"), "w") as f:
            json.dump(req, f)
        images, html_info = run(req, batch, enable_pnginfo)
        entry = {"case": case, "batch": batch, "enable_pnginfo": enable_pnginfo, "html_info": html_info, "images": []}
        for i, im in enumerate(images):
            np.array(im.convert("RGB")).tofile(os.path.join(out, f"{case}.{i}.raw"))
            entry["images"].append({"width": im.width, "height": im.height, "text": encoded_text(im)})
        manifest.append(entry)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
