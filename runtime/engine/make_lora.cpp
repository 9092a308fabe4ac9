#include "runtime/engine/make_lora.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/engine/lora_keys.hpp"
#include "runtime/engine/sd1_layout.hpp"

#include <c10/util/Half.h>

#include <cmath>
#include <cstring>
#include <map>
#include <random>

namespace sdw {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool covered(const std::string& layer, lora_kind kind) {
  static const char* const attention[] = {"_to_q",      "_to_k",    "_to_v",     "_to_out_0",   "_proj_in",
                                          "_proj_out",  "_ff_net_0_proj", "_ff_net_2", "_q_proj",
                                          "_k_proj",    "_v_proj",  "_out_proj", "_mlp_fc1",    "_mlp_fc2"};
  static const char* const convolutions[] = {"_in_layers_2", "_out_layers_3", "_skip_connection", "_op", "_conv"};
  for (const char* s : attention) {
    if (ends_with(layer, s)) {
      return true;
    }
  }
  if (kind == lora_kind::locon && layer.rfind("diffusion_model_", 0) == 0) {
    for (const char* s : convolutions) {
      if (ends_with(layer, s) && layer != "diffusion_model_input_blocks_0_0" && layer != "diffusion_model_out_2") {
        return true;
      }
    }
  }
  return false;
}

std::string bytes_of(const std::vector<float>& values, st_dtype dtype) {
  std::string out(values.size() * dtype_size(dtype), '\0');
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == st_dtype::f32) {
      std::memcpy(&out[4 * i], &values[i], 4);
    } else {
      const uint16_t h = c10::Half(values[i]).x;
      std::memcpy(&out[2 * i], &h, 2);
    }
  }
  return out;
}

} // namespace

const char* to_string(lora_kind kind) { return kind == lora_kind::lora ? "lora" : "locon"; }

void make_lora(model_preset preset, lora_kind kind, int rank, st_dtype dtype, uint64_t seed,
               const std::string& out_path) {
  if (rank < 1) {
    throw error(errc::bad_request, "rank", "a LoRA's rank is at least 1");
  }
  if (dtype != st_dtype::f16 && dtype != st_dtype::f32) {
    throw error(errc::bad_request, "dtype", std::string("make_lora writes F16 or F32 weights, not ") + to_string(dtype));
  }
  const model_config config = preset_config(preset);
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& spec : sd1_checkpoint_layout(config)) {
    shapes[spec.name] = spec.shape;
  }
  const float alpha = static_cast<float>(rank) / 2.0f;
  // ΔW = up·down·alpha/rank has entries of variance rank·s²/fan_in·(alpha/rank)²; s² = 0.4/rank
  // makes that a tenth of a weight's own (1/fan_in), a clear change that keeps activations sane.
  const double up_std = std::sqrt(0.4 / rank);
  std::mt19937_64 gen(seed);
  std::vector<st_write_entry> entries;
  for (const auto& [layer, target] : lora_layers(config)) {
    if (target.kind == lora_layer_kind::other || !covered(layer, kind)) {
      continue;
    }
    const std::vector<int64_t>& w = shapes.at(target.weight_key);
    const int64_t out = w[0], in = w[1];
    const bool conv = w.size() == 4;
    const int64_t kh = conv ? w[2] : 1, kw = conv ? w[3] : 1;
    const double down_std = 1.0 / std::sqrt(static_cast<double>(in * kh * kw));
    const auto draw = [&](size_t n, double stddev) {
      std::normal_distribution<double> normal(0.0, stddev);
      std::vector<float> v(n);
      for (auto& x : v) {
        x = static_cast<float>(normal(gen));
      }
      return v;
    };
    const std::string name = kohya_name_for(layer);
    std::vector<int64_t> down_shape = conv ? std::vector<int64_t>{rank, in, kh, kw} : std::vector<int64_t>{rank, in};
    std::vector<int64_t> up_shape = conv ? std::vector<int64_t>{out, rank, 1, 1} : std::vector<int64_t>{out, rank};
    entries.push_back({name + ".lora_down.weight", dtype, down_shape,
                       bytes_of(draw(static_cast<size_t>(rank * in * kh * kw), down_std), dtype)});
    entries.push_back({name + ".lora_up.weight", dtype, up_shape,
                       bytes_of(draw(static_cast<size_t>(out * rank), up_std), dtype)});
    entries.push_back({name + ".alpha", st_dtype::f32, {}, bytes_of({alpha}, st_dtype::f32)});
  }
  const std::map<std::string, std::string> metadata = {
      {"ss_network_module", kind == lora_kind::lora ? "networks.lora" : "lycoris.kohya"},
      {"ss_network_dim", std::to_string(rank)},
      {"ss_network_alpha", std::to_string(rank / 2.0)},
      {"sdworker_preset", to_string(preset)},
      {"sdworker_kind", to_string(kind)},
      {"sdworker_seed", std::to_string(seed)}};
  write_safetensors(out_path, entries, metadata);
}

} // namespace sdw
