#pragma once
/// The image side of A1111 1.9.4's inpainting (processing.py StableDiffusionProcessingImg2Img.init,
/// masking.py, apply_overlay), pixel for pixel as Pillow 9.5 and OpenCV 4 compute it, so the mask
/// that reaches the model and the composite that leaves it are A1111's.

#include "runtime/image/image8.hpp"

#include <vector>

namespace sdw {

/// A rectangle x1 ≤ x < x2, y1 ≤ y < y2 (PIL's crop box).
struct crop_box {
  int x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  int width() const { return x2 - x1; }
  int height() const { return y2 - y1; }
};

/// create_binary_mask: an RGBA mask whose alpha is not all 255 gives its alpha (thresholded at
/// > 128 → 255 else 0 when `round`); any other mask is converted to L. Returns an L image.
image8 create_binary_mask(const image8& mask, bool round);

/// ImageOps.invert of an L image (255 − v).
image8 invert_mask(const image8& mask);

/// A1111's mask blur: cv2.GaussianBlur with kernel (2·int(2.5·blur_x + 0.5) + 1, 1) and sigma
/// blur_x when blur_x > 0, then (1, 2·int(2.5·blur_y + 0.5) + 1) with sigma blur_y when blur_y > 0;
/// OpenCV's bit-exact 8-bit path (8-bit fixed-point kernel, BORDER_REFLECT_101). L in, L out.
image8 blur_mask(const image8& mask, int blur_x, int blur_y);

/// masking.get_crop_region: the smallest box holding every non-zero pixel, grown by `pad` and
/// clipped to the image. (A blank mask gives a box with x1 ≥ x2, as A1111's.)
crop_box get_crop_region(const image8& mask, int pad);

/// masking.expand_crop_region: `box` grown to the aspect ratio of processing_width×processing_height,
/// shifted and clipped to stay inside image_width×image_height.
crop_box expand_crop_region(crop_box box, int processing_width, int processing_height, int image_width,
                            int image_height);

/// PIL's crop of a box inside the image.
image8 crop(const image8& in, const crop_box& box);

/// mask_for_overlay when the whole picture is inpainted: np.clip(mask · 2, 0, 255).
image8 double_mask(const image8& mask);

/// The overlay A1111 keeps per init image: an RGBa canvas with the RGB image pasted through the
/// inverted mask (255 − mask_for_overlay), converted to RGBA (straight alpha). RGB + L in, RGBA out.
image8 make_overlay(const image8& image, const image8& mask_for_overlay);

/// masking.fill (inpainting_fill 0): the unmasked pixels, premultiplied, blurred with PIL's
/// GaussianBlur at radii 256, 64, 16 (×2), 4 (×4), 2 (×2), 0 and alpha-composited in that order
/// onto a transparent canvas; RGB back. RGB + L in, RGB out.
image8 inpaint_fill(const image8& image, const image8& mask);

/// apply_overlay: with `paste_to` (x, y, w, h of the only-masked region), the generated image is
/// first resized to w×h (resize_image mode 1) and pasted at (x, y) onto a transparent canvas of the
/// overlay's size; then the overlay is alpha-composited over it and the result converted to RGB.
/// `paste_to` null: the image and the overlay have the same size. RGB + RGBA in, RGB out.
image8 apply_overlay(const image8& image, const crop_box* paste_to, const image8& overlay);

/// The latent mask A1111 blends with: the mask converted to RGB, resized to latent_width ×
/// latent_height with Image.resize's default (bicubic), the first channel / 255, rounded to 0 or 1
/// (np.around) when `round`. Row-major, latent_height × latent_width values.
std::vector<float> latent_mask_values(const image8& mask, int latent_width, int latent_height, bool round);

} // namespace sdw
