#include "runtime/engine/lora_apply.hpp"

#include "runtime/engine/lora_delta.hpp"
#include "runtime/engine/sd_model.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <cstring>
#include <set>
#include <stdexcept>

namespace sdw {

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

lora_merged merge_lora_module(const lora_module& m, const lora_use& use, const at::Tensor& weight,
                              const at::Tensor& bias, c10::ScalarType dtype) {
  const lora_delta d = lora_module_delta(m, use, weight, dtype);
  lora_merged out;
  // network_apply_weights: weight.to(updown.dtype) + updown, which must keep the weight's shape.
  out.weight = weight.to(dtype) + d.updown;
  if (!out.weight.sizes().equals(weight.sizes())) {
    throw std::runtime_error("layer " + m.layer + ": the " + std::string(to_string(m.kind)) +
                             " delta does not fit the weight");
  }
  if (d.ex_bias.defined()) {
    if (!bias.defined()) {
      throw std::runtime_error("layer " + m.layer + " has no bias for the " + std::string(to_string(m.kind)) +
                               " module's bias delta");
    }
    out.bias = bias.to(dtype) + d.ex_bias;
    if (!out.bias.sizes().equals(bias.sizes())) {
      throw std::runtime_error("layer " + m.layer + ": the bias delta does not fit the bias");
    }
  }
  return out;
}

at::Tensor merge_lora_rows(const lora_module& m, const lora_use& use, const at::Tensor& weight, c10::ScalarType dtype) {
  const at::Tensor rows = weight.narrow(0, m.target.row_begin, m.target.rows);
  // The MultiheadAttention path keeps only the weight deltas of q, k and v.
  const lora_delta d = lora_module_delta(m, use, rows, dtype);
  at::Tensor out = weight.to(dtype).clone();
  at::Tensor changed = out.narrow(0, m.target.row_begin, m.target.rows);
  const at::Tensor sum = changed + d.updown;
  if (!sum.sizes().equals(changed.sizes())) {
    throw std::runtime_error("layer " + m.layer + ": the " + std::string(to_string(m.kind)) +
                             " delta does not fit its rows of in_proj_weight");
  }
  changed.copy_(sum);
  return out;
}

lora_patcher::lora_patcher(const sd_model& model) : model_(model) {
  for (auto& [key, t] : model.unet().named_weights()) {
    params_.emplace(key, t);
  }
  for (auto& [key, t] : model.text().named_weights()) {
    params_.emplace(key, t);
  }
  if (model.text2() != nullptr) {
    for (auto& [key, t] : model.text2()->named_weights()) {
      params_.emplace(key, t);
    }
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
  if (&state == &unet_ && !state.originals.empty()) {
    model_.unet().drop_graphs();  // they replay the merged weights' addresses
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
  std::map<std::string, at::Tensor> merged;  // weight and bias keys → their new data
  const auto current = [&](const std::string& key) {
    auto it = merged.find(key);
    return it != merged.end() ? it->second : params_.at(key).detach();
  };
  for (const lora_use& use : set) {
    // network_apply_weights changes an OpenCLIP attention module only when the network has all
    // four of its parts (q_proj, k_proj, v_proj, out_proj); any fewer and none is applied.
    std::map<std::string, std::set<std::string>> attention_parts;
    for (const lora_module& m : use.network->modules) {
      if (!m.target.attention.empty()) {
        attention_parts[m.target.attention].insert(m.layer);
      }
    }
    for (const lora_module& m : use.network->modules) {
      if (m.target.text != (part == lora_part::text)) {
        continue;
      }
      if (!m.target.attention.empty() && attention_parts[m.target.attention].size() < 4) {
        continue;
      }
      const std::string& key = m.target.weight_key;
      const std::string& bias_key = m.target.bias_key;
      try {
        if (m.target.rows > 0) {
          merged[key] = merge_lora_rows(m, use, current(key), dtype).to(params_.at(key).scalar_type());
          continue;
        }
        lora_merged out = merge_lora_module(m, use, current(key), bias_key.empty() ? at::Tensor() : current(bias_key), dtype);
        merged[key] = out.weight.to(params_.at(key).scalar_type());
        if (out.bias.defined()) {
          merged[bias_key] = out.bias.to(params_.at(bias_key).scalar_type());
        }
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
  if (part == lora_part::unet && !merged.empty()) {
    model_.unet().drop_graphs();
  }
  spdlog::debug("Lora: {} network(s) merged into {} {} layers in {:.1f} ms", set.size(), merged.size(),
                part == lora_part::text ? "text encoder" : "UNet",
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
}

} // namespace sdw
