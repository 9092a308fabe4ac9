#pragma once
/// ESRGAN's RRDBNet (Residual-in-Residual Dense Blocks), as spandrel 0.1.6 builds it for A1111 1.9.4:
/// the old key layout (`model.0.…`, `model.1.sub.N.RDBk.convj.0.…`, `model.3.…`), the new one of
/// BasicSR / Real-ESRGAN (`conv_first`, `body.N.rdbk.convj`, `conv_body`, `conv_up1`, `conv_hr`,
/// `conv_last`) and BSRGAN's (`RRDB_trunk`, `trunk_conv`, `upconv1`, `HRconv`); ESRGAN+'s
/// conv1x1; and Real-ESRGAN x2plus's pixel-unshuffled input (12 input channels for 3 out).

#include "runtime/engine/upscale_network.hpp"

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <memory>

namespace sdw {

/// Whether a (canonical) state dict is an RRDBNet in any of the layouts.
bool is_esrgan_state(const state_dict& state);

/// The network of `state` on `device` in `dtype`. The scale comes from the number of upsampling
/// convolutions (1, 2, 4, 8…), blocks and features from the keys and shapes. Errors:
/// sdw::error(bad_checkpoint, file, what is missing or of the wrong shape).
std::unique_ptr<upscale_network> make_esrgan_net(const state_dict& state, const std::string& file,
                                                 c10::Device device, c10::ScalarType dtype);

} // namespace sdw
