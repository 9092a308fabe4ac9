"""OpenCV's 8-bit Lab conversions, as A1111's img2img color correction calls them.

usage: lab_color_reference.py IN.rgb OUT_LAB.bin OUT_RGB.bin W H
Reads W×H×3 raw bytes (row-major), writes cv2.cvtColor(COLOR_RGB2LAB) of them to OUT_LAB.bin and
cv2.cvtColor(COLOR_LAB2RGB) of the same bytes taken as Lab to OUT_RGB.bin, both raw.
"""
import sys

import cv2
import numpy as np

src, out_lab, out_rgb, w, h = sys.argv[1:6]
img = np.fromfile(src, dtype=np.uint8).reshape(int(h), int(w), 3)
cv2.cvtColor(img, cv2.COLOR_RGB2LAB).tofile(out_lab)
cv2.cvtColor(img, cv2.COLOR_LAB2RGB).tofile(out_rgb)
