#pragma once
/// The CLIP text transformer of SD1.x (HF CLIPTextModel), loaded from
/// `cond_stage_model.transformer.text_model.*`, or SD2.x's OpenCLIP ViT-H text tower, loaded from
/// `cond_stage_model.model.*`; SDXL's CLIP ViT-L and OpenCLIP bigG from `conditioner.embedders.*`.

#include "runtime/engine/model_config.hpp"
#include "runtime/engine/weights.hpp"

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sdw {

class safetensors_file;

/// Vectors that take the place of token embeddings (a textual-inversion embedding): in batch row
/// `row` from position `position` on, as many as fit before the sequence ends.
struct token_embedding_fix {
  int64_t row = 0;
  int64_t position = 0;
  at::Tensor vectors;  ///< [n, width], any float dtype and device
};

/// Token ids → per-token hidden states, with A1111's clip skip.
class text_encoder {
public:
  /// `key_prefix`: where the weights are (SDXL's `conditioner.embedders.N.…`); empty: SD1's or
  /// SD2's prefix, as `config.open_clip` says.
  explicit text_encoder(const text_encoder_config& config, std::string key_prefix = std::string());
  ~text_encoder();
  text_encoder(text_encoder&&) noexcept;
  text_encoder& operator=(text_encoder&&) noexcept;

  /// Loads the weights; errors name the file and tensor.
  void load(const std::shared_ptr<const safetensors_file>& file, const weight_placement& placement);

  /// tokens: [B, 77] int64. clip_skip 1 returns the final-layer-normed last layer; N > 1 stops
  /// N−1 layers early and applies the final layer norm (A1111's CLIP_stop_at_last_layers).
  /// OpenCLIP (SD2): tokens after the first end token become 0, the output is ln_final of the
  /// layer its config names (penultimate), and clip_skip is ignored, all as in A1111 1.9.4.
  /// `fixes` replace token embeddings before the position embeddings are added (A1111's
  /// EmbeddingsWithFixes), in the model's dtype.
  at::Tensor encode(const at::Tensor& tokens, int clip_skip, const std::vector<token_embedding_fix>& fixes = {}) const;

  /// SDXL's embedders (sgm's FrozenCLIPEmbedder layer "hidden", FrozenOpenCLIPEmbedder2 legacy
  /// False): `hidden` is the hidden state `open_clip_layer_idx` layers before the end without the
  /// final layer norm, [B, 77, width]; for OpenCLIP `pooled` is the final-layer-normed last layer at
  /// each row's first end token (the largest id, as OpenCLIP's argmax finds it) through
  /// text_projection, [B, projection_dim], float32. OpenCLIP pads after the first end token with 0,
  /// as A1111 does. `fixes` as in encode.
  struct hidden_and_pooled {
    at::Tensor hidden, pooled;
  };
  hidden_and_pooled encode_sdxl(const at::Tensor& tokens, const std::vector<token_embedding_fix>& fixes = {}) const;

  const text_encoder_config& config() const noexcept { return config_; }

  /// Every parameter with its checkpoint key; the handles share the module's tensors (LoRA
  /// patching swaps their data on the thread that runs the model).
  std::vector<std::pair<std::string, at::Tensor>> named_weights() const;

private:
  struct impl;
  c10::ScalarType dtype_ = c10::kFloat;  ///< compute dtype, from the placement at load
  text_encoder_config config_;
  std::string prefix_;  ///< checkpoint key prefix of the weights
  at::Tensor position_ids_;  ///< [max_positions] int64; the checkpoint's own when it has them
  std::unique_ptr<impl> impl_;
};

} // namespace sdw
