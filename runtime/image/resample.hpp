#pragma once
/// Image resizing exactly as PIL (Pillow 9.5, the version A1111 1.9.4 pins) does it for 8-bit
/// images, and A1111's resize_image built on it: the same pixels, so img2img starts from the same
/// latents.

#include "runtime/image/image8.hpp"
#include "runtime/image/model_upscalers.hpp"

#include <string>

namespace sdw {

enum class resample_filter { nearest, bicubic, lanczos };

/// A source rectangle in pixel coordinates (PIL's `box`); may be empty in one direction, which
/// stretches the edge rows or columns.
struct resample_box {
  float x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

/// PIL's `Image.resize((width, height), filter, box)` for L and RGB images: separable convolution,
/// horizontal pass first, 22-bit fixed-point coefficients, rounding and clipping as Pillow; nearest
/// as Pillow's affine scaling (pixel centres stepped in doubles).
image8 pil_resize(const image8& in, int width, int height, resample_filter filter);
image8 pil_resize(const image8& in, int width, int height, resample_filter filter, resample_box box);

/// PIL's `dest.paste(src, (x, y))` without a mask: the part of `src` that lands inside `dest`.
void paste(image8& dest, const image8& src, int x, int y);

/// A1111's images.resize_image: mode 0 stretches to width×height; 1 scales to cover and crops the
/// centre; 2 scales to fit, centres, and fills the bands by stretching the edge rows or columns.
/// Each resize is Lanczos, after `upscaler` (option `upscaler_for_img2img`; "None" = none) has
/// upscaled an RGB image by max(w/iw, h/ih) when that is above 1. Mode 0 keeps an L image L
/// (masks, never upscaled); everything else comes back RGB, as A1111's new RGB canvas.
image8 a1111_resize_image(int mode, const image8& in, int width, int height, const std::string& upscaler = "None",
                          const model_upscale_use& use = {});

/// The built-in upscalers that need no model file ("None", "Lanczos", "Nearest").
bool is_builtin_upscaler(const std::string& name);

/// A1111's Upscaler.upscale(img, scale): up to three passes of the upscaler's do_upscale (the
/// built-ins' resize to int(side·scale): "Lanczos", "Nearest"; "None" leaves the image as it is; a
/// model upscaler of `models` (the installed ones when nullptr) runs its network once per pass on
/// the RGB image), each made only while the target is not reached (one pass at least when scale is
/// exactly 1) and the last one changed the size, then Lanczos to the target, the multiple of 8 at
/// or below side·scale. L or RGB in, the same out (RGB from a model); a target side of 0 →
/// sdw::error(bad_request, "image"); a name that is none of these → check_upscaler_name's error.
image8 a1111_upscaler_upscale(const image8& in, double scale, const std::string& upscaler,
                              const model_upscale_use& use = {});

/// PIL's `Image.blend(a, b, alpha)`: a + alpha·(b − a) per sample in single-precision floats,
/// truncated to a byte. The images must have the same size and channels.
image8 pil_blend(const image8& a, const image8& b, float alpha);

/// A1111's resize_image(0, image, width, height, upscaler_name): "None" resizes with Lanczos; any
/// other upscaler (built in, or a model upscaler of `use`) first runs
/// upscaler_upscale by max(width/w, height/h) (when > 1), then Lanczos to width×height. RGB in, RGB out.
image8 a1111_upscale_image(const image8& in, int width, int height, const std::string& upscaler,
                           const model_upscale_use& use = {});

} // namespace sdw
