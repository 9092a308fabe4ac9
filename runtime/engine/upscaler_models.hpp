#pragma once
/// Model upscaler files read into networks, and one network run over an image as A1111 1.9.4 runs
/// it (modules/upscaler_utils.py upscale_with_model): RGB flipped to BGR, 0..1, in tiles blended by
/// images.combine_grid, rounded back to 8 bits.

#include "runtime/engine/upscale_network.hpp"
#include "runtime/image/image8.hpp"

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <memory>
#include <string>

namespace sdw {

/// spandrel's canonicalize_state_dict on a flattened state dict: the tensors under the first of
/// `state_dict.`, `params_ema.`, `params-ema.`, `params.`, `model.` (unless it is ESRGAN's own
/// `model.0.…` layout) and `net.`, then a prefix `module.` or `netG.` that every key has removed.
state_dict canonical_upscaler_state(state_dict state);

/// Reads a model upscaler file (.safetensors; .pth/.pt through read_torch_file, which runs nothing)
/// and builds its network (RRDBNet or SRVGGNetCompact, told apart by the keys) on `device` in
/// `dtype`. Errors: sdw::error(bad_checkpoint, file, why) for a file that is damaged, unreadable or
/// holds another architecture.
std::unique_ptr<upscale_network> load_upscale_network(const std::string& file, c10::Device device,
                                                      c10::ScalarType dtype);

/// One patch through the network (upscale_pil_patch): the RGB pixels as BGR (v/255 in doubles, then
/// the network's dtype), the output as float clamped to 0..1, ×255, rounded half to even.
image8 upscale_patch(const upscale_network& net, const image8& rgb, c10::Device device, c10::ScalarType dtype);

/// upscale_with_model: the whole image at once when `tile` ≤ 0, else images.split_grid's tiles of
/// tile×tile overlapping by `overlap`, each through upscale_patch, put together by combine_grid
/// scaled by the network's factor. `overlap` ≥ `tile` > 0 → sdw::error(bad_request,
/// "ESRGAN_tile_overlap", ...).
image8 upscale_with_model(const upscale_network& net, const image8& rgb, int tile, int overlap, c10::Device device,
                          c10::ScalarType dtype);

} // namespace sdw
