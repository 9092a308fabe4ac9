"""A1111 1.9.4's img2img color correction (processing.setup_color_correction and
apply_color_correction), run with the libraries it runs: OpenCV's 8-bit Lab, scikit-image 0.21's
match_histograms (its uint8 algorithm, written out below: scikit-image itself needs a newer Pillow
than A1111's) and blendmodes 2022's LUMINOSITY blend.

usage: color_correction_reference.py INIT.png GENERATED.png OUT.png
Writes the color-corrected GENERATED (as RGB) to OUT.png.
"""
import sys

import cv2
import numpy as np
from blendmodes.blend import BlendType, blendLayers
from PIL import Image


def match_cumulative_cdf(source, template):
    # skimage.exposure.histogram_matching._match_cumulative_cdf for unsigned integers.
    src_lookup = source.reshape(-1)
    src_counts = np.bincount(src_lookup)
    tmpl_counts = np.bincount(template.reshape(-1))
    tmpl_values = np.nonzero(tmpl_counts)[0]
    tmpl_counts = tmpl_counts[tmpl_values]
    src_quantiles = np.cumsum(src_counts) / source.size
    tmpl_quantiles = np.cumsum(tmpl_counts) / template.size
    interp_a_values = np.interp(src_quantiles, tmpl_quantiles, tmpl_values)
    return interp_a_values[src_lookup].reshape(source.shape)


def match_histograms(image, reference):
    # channel_axis=2: the result keeps the image's dtype (uint8: the floats are truncated).
    matched = np.empty(image.shape, dtype=image.dtype)
    for channel in range(image.shape[-1]):
        matched[..., channel] = match_cumulative_cdf(image[..., channel], reference[..., channel])
    return matched


def setup_color_correction(image):
    return cv2.cvtColor(np.asarray(image.copy()), cv2.COLOR_RGB2LAB)


def apply_color_correction(correction, original_image):
    image = Image.fromarray(cv2.cvtColor(match_histograms(
        cv2.cvtColor(np.asarray(original_image), cv2.COLOR_RGB2LAB), correction), cv2.COLOR_LAB2RGB).astype("uint8"))
    image = blendLayers(image, original_image, BlendType.LUMINOSITY)
    return image.convert("RGB")


def main():
    init, generated, out = sys.argv[1:4]
    correction = setup_color_correction(Image.open(init).convert("RGB"))
    apply_color_correction(correction, Image.open(generated).convert("RGB")).save(out)


if __name__ == "__main__":
    main()
