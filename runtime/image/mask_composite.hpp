#pragma once
/// The extra images A1111 1.9.4 returns after an inpainted one (processing.py, options return_mask
/// and return_mask_composite): the mask, and the generated pixels inside the mask on a transparent
/// canvas, as Pillow 9.5 makes them.

#include "runtime/image/image8.hpp"
#include "runtime/image/inpaint_mask.hpp"

namespace sdw {

/// `mask_for_overlay.convert('RGB')`.
image8 returned_mask(const image8& mask_for_overlay);

/// Image.composite(original.convert('RGBA').convert('RGBa'), Image.new('RGBa', size),
/// resize_image(2, mask_for_overlay, w, h).convert('L')).convert('RGBA'), where `original` is the
/// generated image before the overlay (with `paste_to`, uncropped onto a transparent canvas of the
/// mask's size first, as apply_overlay does). RGB in, RGBA out.
image8 mask_composite(const image8& generated, const crop_box* paste_to, const image8& mask_for_overlay);

} // namespace sdw
