#pragma once
/// A1111's img2img color correction (option img2img_color_correction): each result's Lab
/// histograms are matched to its init image's (scikit-image 0.21's match_histograms on OpenCV's
/// 8-bit Lab), and the result's own luminosity is put back over the matched colours (blendmodes
/// 2022's LUMINOSITY blend).

#include "runtime/image/image8.hpp"

namespace sdw {

/// match_histograms of 8-bit images, channel by channel: each value of `image` becomes the value of
/// `reference` at the same quantile (linear interpolation between the reference's values, as
/// np.interp), truncated back to 8 bits. Both must have the same number of channels.
image8 match_histograms(const image8& image, const image8& reference);

/// blendLayers(background, foreground, LUMINOSITY) of opaque RGB images of one size: the
/// background's colour with the foreground's luminosity (0.299 R + 0.587 G + 0.114 B), clipped
/// into range as the W3C non-separable blend does, truncated to 8 bits.
image8 luminosity_blend(const image8& background, const image8& foreground);

/// apply_color_correction: `generated` (RGB) with the colours of `target`, the Lab image of its
/// init image (setup_color_correction: rgb_to_lab of the prepared init image).
image8 apply_color_correction(const image8& target, const image8& generated);

} // namespace sdw
