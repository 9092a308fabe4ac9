#include "runtime/engine/upscaler_models.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/engine/compact_net.hpp"
#include "runtime/engine/esrgan_net.hpp"
#include "runtime/engine/safetensors.hpp"
#include "runtime/engine/torch_file.hpp"
#include "runtime/image/tile_grid.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

namespace sdw {
namespace {

bool all_start_with(const state_dict& state, const std::string& prefix) {
  return std::all_of(state.begin(), state.end(), [&](const auto& kv) { return kv.first.rfind(prefix, 0) == 0; });
}

state_dict under(const state_dict& state, const std::string& prefix) {
  state_dict out;
  for (const auto& [k, v] : state) {
    if (k.rfind(prefix, 0) == 0) out.emplace(k.substr(prefix.size()), v);
  }
  return out;
}

at::ScalarType scalar_type_of(st_dtype d) {
  switch (d) {
    case st_dtype::f64: return at::kDouble;
    case st_dtype::f32: return at::kFloat;
    case st_dtype::f16: return at::kHalf;
    case st_dtype::bf16: return at::kBFloat16;
    case st_dtype::i64: return at::kLong;
    case st_dtype::i32: return at::kInt;
    case st_dtype::i16: return at::kShort;
    case st_dtype::i8: return at::kChar;
    case st_dtype::u8: return at::kByte;
    case st_dtype::boolean: return at::kBool;
  }
  return at::kFloat;
}

state_dict read_safetensors_state(const std::string& file) {
  const auto st = safetensors_file::open(file);
  state_dict state;
  for (const st_tensor& t : st->tensors()) {
    // Copied out of the mapping, which closes with `st`.
    state.emplace(t.name, at::from_blob(const_cast<uint8_t*>(t.data), t.shape,
                                        at::TensorOptions().dtype(scalar_type_of(t.dtype)))
                            .clone());
  }
  return state;
}

std::string lower_extension(const std::string& file) {
  std::string ext = std::filesystem::path(file).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

} // namespace

state_dict canonical_upscaler_state(state_dict state) {
  for (const char* key : {"state_dict", "params_ema", "params-ema", "params", "model", "net"}) {
    const std::string prefix = std::string(key) + ".";
    if (std::string(key) == "model" && state.count("model.0.weight") != 0) continue;
    state_dict inner = under(state, prefix);
    if (!inner.empty()) {
      state = std::move(inner);
      break;
    }
  }
  for (const char* prefix : {"module.", "netG."}) {
    if (!state.empty() && all_start_with(state, prefix)) state = under(state, prefix);
  }
  return state;
}

std::unique_ptr<upscale_network> load_upscale_network(const std::string& file, c10::Device device,
                                                      c10::ScalarType dtype) {
  const std::string ext = lower_extension(file);
  state_dict state;
  if (ext == ".safetensors") {
    state = read_safetensors_state(file);
  } else {
    // A pickle: only through the restricted reader, which builds plain values and tensors.
    try {
      state = read_torch_file(file).tensors;
    } catch (const error& e) {
      throw error(errc::bad_checkpoint, file, e.message());
    }
  }
  state = canonical_upscaler_state(std::move(state));
  c10::InferenceMode guard;
  if (is_compact_state(state)) return make_compact_net(state, file, device, dtype);
  if (is_esrgan_state(state)) return make_esrgan_net(state, file, device, dtype);
  throw error(errc::bad_checkpoint, file,
              "not a model this worker can upscale with: neither an ESRGAN (RRDBNet) nor an SRVGGNetCompact network");
}

image8 upscale_patch(const upscale_network& net, const image8& rgb, c10::Device device, c10::ScalarType dtype) {
  c10::InferenceMode guard;
  const int w = rgb.width, h = rgb.height;
  at::Tensor in = at::empty({1, 3, h, w}, at::kDouble);
  double* p = in.data_ptr<double>();
  const std::size_t plane = static_cast<std::size_t>(w) * h;
  for (std::size_t i = 0; i < plane; ++i) {
    // BGR planes: the networks were trained on OpenCV's channel order.
    for (int c = 0; c < 3; ++c) p[static_cast<std::size_t>(c) * plane + i] = rgb.pixels[i * 3 + (2 - c)] / 255.0;
  }
  const at::Tensor out = net.forward(in.to(device, dtype)).to(at::kFloat).cpu().clamp(0, 1).contiguous();
  const auto oh = static_cast<int>(out.size(2)), ow = static_cast<int>(out.size(3));
  image8 result(ow, oh, 3);
  const float* o = out.data_ptr<float>();
  const std::size_t oplane = static_cast<std::size_t>(ow) * oh;
  for (std::size_t i = 0; i < oplane; ++i) {
    for (int c = 0; c < 3; ++c) {
      const float v = 255.0f * o[static_cast<std::size_t>(c) * oplane + i];
      result.pixels[i * 3 + (2 - c)] = static_cast<std::uint8_t>(std::nearbyint(v));
    }
  }
  return result;
}

image8 upscale_with_model(const upscale_network& net, const image8& rgb, int tile, int overlap, c10::Device device,
                          c10::ScalarType dtype) {
  if (tile <= 0) return upscale_patch(net, rgb, device, dtype);
  if (overlap >= tile)
    throw error(errc::bad_request, "ESRGAN_tile_overlap",
                "the tile overlap (" + std::to_string(overlap) + ") must be smaller than the tile size ESRGAN_tile (" +
                  std::to_string(tile) + ")");
  const tile_grid grid = split_grid(rgb, tile, tile, overlap);
  tile_grid scaled;
  int factor = 1;
  for (const grid_row& row : grid.rows) {
    grid_row out_row;
    for (const grid_tile& t : row.tiles) {
      grid_tile out;
      out.image = upscale_patch(net, t.image, device, dtype);
      factor = out.image.width / t.image.width;
      out.x = t.x * factor;
      out.w = t.w * factor;
      out_row.tiles.push_back(std::move(out));
    }
    out_row.y = row.y * factor;
    out_row.h = row.h * factor;
    scaled.rows.push_back(std::move(out_row));
  }
  scaled.tile_w = grid.tile_w * factor;
  scaled.tile_h = grid.tile_h * factor;
  scaled.image_w = grid.image_w * factor;
  scaled.image_h = grid.image_h * factor;
  scaled.overlap = grid.overlap * factor;
  return combine_grid(scaled);
}

} // namespace sdw
