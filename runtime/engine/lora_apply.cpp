#include "runtime/engine/lora_apply.hpp"

#include "runtime/engine/sd_model.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <cstring>

namespace sdw {
namespace {

/// A1111's NetworkModule.multiplier: text-encoder layers are those with "transformer" in the
/// first 20 characters of their name.
double multiplier_of(const lora_module& m, const lora_use& use) {
  return m.layer.substr(0, 20).find("transformer") != std::string::npos ? use.te : use.unet;
}

} // namespace

bool same_loras(const lora_set& a, const lora_set& b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    const auto& x = a[i];
    const auto& y = b[i];
    // Multipliers compared bit for bit: NaN ones are the same setting too.
    if (x.network != y.network || std::memcmp(&x.te, &y.te, sizeof x.te) != 0 ||
        std::memcmp(&x.unet, &y.unet, sizeof x.unet) != 0 || x.dyn != y.dyn) {
      return false;
    }
  }
  return true;
}

at::Tensor merge_lora_module(const lora_module& m, const lora_use& use, const at::Tensor& weight,
                             c10::ScalarType dtype) {
  const auto opts = at::TensorOptions().device(weight.device()).dtype(dtype);
  at::Tensor up = m.up.to(opts);
  at::Tensor down = m.down.to(opts);
  const int64_t rank = down.size(0);
  std::vector<int64_t> shape{up.size(0), down.size(1)};
  at::Tensor updown;
  if (m.mid.defined()) {
    const at::Tensor mid = m.mid.to(opts);
    shape.insert(shape.end(), mid.sizes().begin() + 2, mid.sizes().end());
    updown = at::einsum("n m k l, i n, m j -> i j k l",
                        {mid, up.reshape({up.size(0), -1}), down.reshape({down.size(0), -1})});
  } else {
    if (down.dim() == 4) {
      shape.insert(shape.end(), down.sizes().begin() + 2, down.sizes().end());
    }
    at::Tensor u = up.reshape({up.size(0), -1});
    at::Tensor d = down.reshape({down.size(0), -1});
    if (use.dyn) {
      u = u.slice(1, 0, *use.dyn);
      d = d.slice(0, 0, *use.dyn);
    }
    updown = at::matmul(u, d).reshape(shape);
  }
  if (updown.numel() != weight.numel()) {
    throw std::runtime_error("layer " + m.layer + ": the LoRA's delta does not fit the weight");
  }
  updown = updown.reshape(weight.sizes());
  const double scale = m.scale ? *m.scale : m.alpha ? *m.alpha / static_cast<double>(rank) : 1.0;
  updown = updown * scale;
  updown = updown * multiplier_of(m, use);
  return weight.to(dtype) + updown;
}

lora_patcher::lora_patcher(const sd_model& model) : model_(model) {
  for (auto& [key, t] : model.unet().named_weights()) {
    params_.emplace(key, t);
  }
  for (auto& [key, t] : model.text().named_weights()) {
    params_.emplace(key, t);
  }
}

lora_patcher::~lora_patcher() {
  try {
    restore();
  } catch (const std::exception& e) {
    spdlog::error("restoring the weights after a LoRA failed: {}", e.what());
  }
}

void lora_patcher::restore(part_state& state) {
  c10::InferenceMode off(false);
  torch::NoGradGuard no_grad;
  for (auto& [key, original] : state.originals) {
    params_.at(key).set_data(original);
  }
  state.originals.clear();
  state.set.clear();
}

void lora_patcher::restore() {
  restore(text_);
  restore(unet_);
}

void lora_patcher::apply(const lora_set& set, lora_part part) {
  part_state& state = part == lora_part::text ? text_ : unet_;
  if (same_loras(state.set, set)) {
    return;
  }
  restore(state);
  if (set.empty()) {
    return;
  }
  // Fresh tensors, made outside inference mode so that they can become parameters' data.
  c10::InferenceMode off(false);
  torch::NoGradGuard no_grad;
  const auto t0 = std::chrono::steady_clock::now();
  const c10::ScalarType dtype = model_.placement().dtype;
  std::map<std::string, at::Tensor> merged;
  for (const lora_use& use : set) {
    for (const lora_module& m : use.network->modules) {
      if (m.target.text != (part == lora_part::text)) {
        continue;
      }
      const std::string& key = m.target.weight_key;
      auto it = merged.find(key);
      const at::Tensor current = it != merged.end() ? it->second : params_.at(key).detach();
      try {
        merged[key] = merge_lora_module(m, use, current, dtype);
      } catch (const std::exception& e) {
        // A1111 counts the layer as an error of that network and goes on without it.
        spdlog::warn("Lora {}: {}", use.network->path, e.what());
      }
    }
  }
  for (auto& [key, weight] : merged) {
    at::Tensor& param = params_.at(key);
    at::Tensor original = param.detach();
    if (weight.dim() == 4 && original.is_contiguous(at::MemoryFormat::ChannelsLast)) {
      weight = weight.contiguous(at::MemoryFormat::ChannelsLast);
    }
    param.set_data(weight);
    state.originals.emplace(key, std::move(original));
  }
  state.set = set;
  spdlog::debug("Lora: {} network(s) merged into {} {} layers in {:.1f} ms", set.size(), merged.size(),
                part == lora_part::text ? "text encoder" : "UNet",
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
}

} // namespace sdw
