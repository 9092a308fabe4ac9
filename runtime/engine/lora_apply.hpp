#pragma once
/// Applying LoRAs and LyCORIS networks to a loaded model for one job and taking them off again.
/// As A1111's Lora extension merges them (networks.py network_apply_weights): for each network in
/// order, each matched layer's weight becomes W + ΔW and, where the module has a bias delta, its
/// bias b + Δb (ΔW and Δb by kind: lora_delta), computed once per job in the model's compute
/// dtype from what earlier networks made of the layer. The changed weights and biases are fresh
/// tensors swapped in; the originals are kept and swapped back, so restoring is exact and other
/// jobs never see a network.

#include "runtime/engine/lora_file.hpp"

#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sdw {

class sd_model;

/// One LoRA of a job with its multipliers.
struct lora_use {
  std::shared_ptr<const lora_network> network;
  double te = 1.0;
  double unet = 1.0;
  std::optional<long long> dyn;  ///< the rank limit of `<lora:name:te:unet:dyn>`, if given
};

/// A job's LoRAs, in the order they are applied.
using lora_set = std::vector<lora_use>;

/// Whether two sets apply the same networks with the same multipliers in the same order.
bool same_loras(const lora_set& a, const lora_set& b);

/// The two networks a LoRA changes; prompts are encoded with one, latents sampled with the other.
enum class lora_part { text, unet };

/// Puts LoRA-merged weights into a model and takes them off. One at a time per model, on the
/// thread that runs it; the destructor restores the original weights.
class lora_patcher {
public:
  explicit lora_patcher(const sd_model& model);
  ~lora_patcher();
  lora_patcher(const lora_patcher&) = delete;
  lora_patcher& operator=(const lora_patcher&) = delete;

  /// Makes `part` of the model run with `set` (nothing to do when it already does): the
  /// previous set's weights are restored, then the new deltas merged.
  void apply(const lora_set& set, lora_part part);

  /// Puts every original weight back.
  void restore();

private:
  struct part_state {
    lora_set set;
    std::map<std::string, at::Tensor> originals;  ///< weight key → the original data
  };
  void restore(part_state& state);

  const sd_model& model_;
  std::map<std::string, at::Tensor> params_;  ///< weight key → the module's parameter
  part_state text_, unet_;
};

/// A layer's weight and bias after one module.
struct lora_merged {
  at::Tensor weight;
  at::Tensor bias;  ///< undefined when the module leaves the bias alone
};

/// One module merged into its layer's `weight` and `bias` (undefined when the layer has none) in
/// the model's compute dtype; exposed for tests and benchmarks. Throws std::runtime_error where
/// A1111 fails for the layer (then the layer goes without the module).
lora_merged merge_lora_module(const lora_module& module, const lora_use& use, const at::Tensor& weight,
                              const at::Tensor& bias, c10::ScalarType dtype);

/// A q, k or v module of OpenCLIP's attention merged into its rows of the whole in_proj_weight
/// `weight`: the whole weight with those rows changed, in `dtype`.
at::Tensor merge_lora_rows(const lora_module& module, const lora_use& use, const at::Tensor& weight,
                           c10::ScalarType dtype);

} // namespace sdw
