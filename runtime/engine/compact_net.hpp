#pragma once
/// Real-ESRGAN's SRVGGNetCompact (realesr-general-x4v3, realesr-animevideov3), as spandrel 0.1.6
/// builds it: `body.0` a 3×3 convolution, then PReLU and convolution pairs, the last convolution
/// making out·s² channels that a pixel shuffle turns into the image, plus the input upscaled by
/// nearest neighbour.

#include "runtime/engine/upscale_network.hpp"

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <memory>

namespace sdw {

/// Whether a (canonical) state dict is an SRVGGNetCompact (`body.0.weight` and `body.1.weight`).
bool is_compact_state(const state_dict& state);

/// The network of `state` on `device` in `dtype`; the scale from the last convolution's channels.
/// Errors: sdw::error(bad_checkpoint, file, why).
std::unique_ptr<upscale_network> make_compact_net(const state_dict& state, const std::string& file,
                                                  c10::Device device, c10::ScalarType dtype);

} // namespace sdw
