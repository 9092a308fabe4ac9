#include "runtime/engine/text_encoder.hpp"

#include "runtime/engine/clip_tokenizer.hpp"
#include "runtime/engine/nn_layers.hpp"
#include "runtime/engine/safetensors.hpp"
#include "runtime/engine/sd1_layout.hpp"

#include <torch/torch.h>

#include <algorithm>

namespace sdw {
namespace {

namespace tnn = torch::nn;

nn::layer_norm layer_norm(int64_t width) {
  return nn::layer_norm(width);
}

// The two checkpoint layouts of the same pre-norm transformer: Hugging Face CLIPTextModel (SD1)
// and OpenCLIP's text tower (SD2), which fuses q/k/v into one projection and uses exact GELU.
struct layer_names {
  const char *attn, *norm1, *mlp, *norm2, *fc1, *fc2;
};
constexpr layer_names hf_names{"self_attn", "layer_norm1", "mlp", "layer_norm2", "fc1", "fc2"};
constexpr layer_names open_clip_names{"attn", "ln_1", "mlp", "ln_2", "c_fc", "c_proj"};

struct clip_attention_impl : tnn::Module {
  clip_attention_impl(int64_t width, int64_t heads, bool fused) : heads(heads), fused(fused) {
    if (fused) {
      // torch.nn.MultiheadAttention's parameters, q, k and v stacked in that order.
      in_proj_weight = register_parameter("in_proj_weight", torch::empty({3 * width, width}), false);
      in_proj_bias = register_parameter("in_proj_bias", torch::empty({3 * width}), false);
    } else {
      q_proj = register_module("q_proj", nn::linear(width, width));
      k_proj = register_module("k_proj", nn::linear(width, width));
      v_proj = register_module("v_proj", nn::linear(width, width));
    }
    out_proj = register_module("out_proj", nn::linear(width, width));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor q, k, v;
    if (fused) {
      auto qkv = torch::linear(x, nn::as_type_of(in_proj_weight, x), nn::as_type_of(in_proj_bias, x)).chunk(3, -1);
      q = qkv[0], k = qkv[1], v = qkv[2];
    } else {
      q = q_proj(x), k = k_proj(x), v = v_proj(x);
    }
    auto o = nn::causal_attention(nn::split_heads(q, heads), nn::split_heads(k, heads), nn::split_heads(v, heads));
    return out_proj(nn::merge_heads(o));
  }
  int64_t heads;
  bool fused;
  torch::Tensor in_proj_weight, in_proj_bias;
  nn::linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};
};
TORCH_MODULE_IMPL(clip_attention, clip_attention_impl);

struct clip_mlp_impl : tnn::Module {
  clip_mlp_impl(int64_t width, int64_t inner, const layer_names& names, bool exact_gelu) : exact_gelu(exact_gelu) {
    fc1 = register_module(names.fc1, nn::linear(width, inner));
    fc2 = register_module(names.fc2, nn::linear(inner, width));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = fc1(x);
    // OpenCLIP's ViT-H uses nn.GELU; SD1's CLIP quick_gelu.
    h = exact_gelu ? torch::gelu(h) : h * torch::sigmoid(1.702 * h);
    return fc2(h);
  }
  bool exact_gelu;
  nn::linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE_IMPL(clip_mlp, clip_mlp_impl);

struct clip_layer_impl : tnn::Module {
  clip_layer_impl(const text_encoder_config& c) {
    const layer_names& names = c.open_clip ? open_clip_names : hf_names;
    self_attn = register_module(names.attn, clip_attention(c.width, c.heads, c.open_clip));
    layer_norm1 = register_module(names.norm1, layer_norm(c.width));
    mlp = register_module(names.mlp, clip_mlp(c.width, c.intermediate, names, c.open_clip));
    layer_norm2 = register_module(names.norm2, layer_norm(c.width));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = x + self_attn(layer_norm1(x));
    return x + mlp(layer_norm2(x));
  }
  clip_attention self_attn{nullptr};
  nn::layer_norm layer_norm1{nullptr}, layer_norm2{nullptr};
  clip_mlp mlp{nullptr};
};
TORCH_MODULE_IMPL(clip_layer, clip_layer_impl);

// A plain parent module, for the key path (`embeddings.`, `encoder.`, `transformer.`).
struct group_impl : tnn::Module {};
TORCH_MODULE_IMPL(group, group_impl);

} // namespace

// Module names mirror the checkpoint's keys below `cond_stage_model.transformer.text_model.` (SD1)
// or `cond_stage_model.model.` (SD2).
struct text_encoder::impl : tnn::Module {
  explicit impl(const text_encoder_config& c) {
    if (c.open_clip) {
      positional_embedding = register_parameter("positional_embedding", torch::empty({c.max_positions, c.width}), false);
      token_embedding = register_module("token_embedding", nn::embedding(c.vocab_size, c.width));
    } else {
      auto embeddings = register_module("embeddings", group());
      token_embedding = embeddings->register_module("token_embedding", nn::embedding(c.vocab_size, c.width));
      position_embedding = embeddings->register_module("position_embedding", nn::embedding(c.max_positions, c.width));
    }
    auto stack = register_module(c.open_clip ? "transformer" : "encoder", group());
    layers = stack->register_module(c.open_clip ? "resblocks" : "layers", tnn::ModuleList());
    for (int i = 0; i < c.layers; ++i) {
      layers->push_back(clip_layer(c));
    }
    final_layer_norm = register_module(c.open_clip ? "ln_final" : "final_layer_norm", layer_norm(c.width));
    if (c.open_clip && c.projection_dim > 0) {
      text_projection = register_parameter("text_projection", torch::empty({c.width, c.projection_dim}), false);
    }
  }

  // Token embeddings (with the fixes) plus position embeddings, in `dtype`.
  torch::Tensor embed(const torch::Tensor& ids, const std::vector<token_embedding_fix>& fixes, c10::ScalarType dtype,
                      const torch::Tensor& position_ids) {
    const auto device = ids.device();
    const int64_t n = ids.size(1);
    auto x = token_embedding(ids, dtype);
    for (const auto& fix : fixes) {
      const int64_t count = std::min(n - fix.position, fix.vectors.size(0));
      if (count > 0) {
        x[fix.row].narrow(0, fix.position, count).copy_(fix.vectors.narrow(0, 0, count).to(device, dtype));
      }
    }
    if (positional_embedding.defined()) {
      return x + positional_embedding.narrow(0, 0, n).to(dtype).unsqueeze(0);
    }
    auto positions = position_ids.defined()
                       ? position_ids.narrow(0, 0, n).to(device)
                       : torch::arange(n, torch::TensorOptions().dtype(torch::kLong).device(device));
    return x + position_embedding(positions, dtype).unsqueeze(0);
  }

  nn::embedding token_embedding{nullptr}, position_embedding{nullptr};
  torch::Tensor positional_embedding;  ///< OpenCLIP: a bare [positions, width] parameter
  torch::Tensor text_projection;       ///< OpenCLIP with projection_dim: [width, projection_dim]
  tnn::ModuleList layers{nullptr};
  nn::layer_norm final_layer_norm{nullptr};
};

text_encoder::text_encoder(const text_encoder_config& config, std::string key_prefix)
  : config_(config),
    prefix_(key_prefix.empty() ? std::string(config.open_clip ? sd2_text_prefix : sd1_text_prefix) : std::move(key_prefix)),
    impl_(std::make_unique<impl>(config)) {
  impl_->eval();
}

text_encoder::~text_encoder() = default;
text_encoder::text_encoder(text_encoder&&) noexcept = default;
text_encoder& text_encoder::operator=(text_encoder&&) noexcept = default;

namespace {

// A1111's process_tokens: OpenCLIP pads with token 0 after the first end token (id_pad != id_end).
torch::Tensor pad_after_first_end(torch::Tensor ids) {
  ids = ids.clone();
  for (int64_t row = 0; row < ids.size(0); ++row) {
    const auto ends = ids[row].eq(clip_tokenizer::end_id()).nonzero();
    if (ends.size(0) > 0) {
      ids[row].slice(0, ends[0][0].item<int64_t>() + 1).fill_(0);
    }
  }
  return ids;
}

} // namespace

void text_encoder::load(const std::shared_ptr<const safetensors_file>& file, const weight_placement& placement) {
  load_weights(*impl_, file, prefix_, placement);
  dtype_ = placement.dtype;
  if (config_.open_clip) {
    return;  // OpenCLIP adds its positional table whole; it has no position ids
  }
  // Merged checkpoints sometimes carry float position ids that are not quite integers; A1111
  // loads the buffer, truncating them, so they are used as stored.
  position_ids_ = torch::arange(config_.max_positions, torch::TensorOptions().dtype(torch::kLong));
  if (const st_tensor* t = file->find(prefix_ + "embeddings.position_ids")) {
    const auto numel = t->numel();
    if (numel == config_.max_positions) {
      if (t->dtype == st_dtype::i64) {
        position_ids_ = torch::from_blob(const_cast<uint8_t*>(t->data), {numel}, torch::kLong).clone();
      } else if (t->dtype == st_dtype::f32 || t->dtype == st_dtype::f16 || t->dtype == st_dtype::bf16 ||
                 t->dtype == st_dtype::f64) {
        std::vector<float> values(static_cast<size_t>(numel));
        copy_as_float(*t, values.data());
        position_ids_ = torch::tensor(values).to(torch::kLong);
      }
    }
  }
  position_ids_ = position_ids_.clamp(0, config_.max_positions - 1).to(placement.device);
}

at::Tensor text_encoder::encode(const at::Tensor& tokens, int clip_skip,
                                const std::vector<token_embedding_fix>& fixes) const {
  c10::InferenceMode guard;
  auto& m = *impl_;
  const auto device = m.final_layer_norm->weight.device();
  auto ids = tokens.to(device, torch::kLong);
  if (config_.open_clip) {
    ids = pad_after_first_end(ids);
  }
  auto x = m.embed(ids, fixes, dtype_, position_ids_);
  int run = config_.layers;
  if (config_.open_clip) {
    // ldm's FrozenOpenCLIPEmbedder stops layer_idx layers early, then applies ln_final. A1111
    // 1.9.4 does not apply CLIP_stop_at_last_layers to it: clip_skip is ignored for SD2.
    run -= config_.open_clip_layer_idx;
  } else {
    const int skip = std::clamp(clip_skip, 1, config_.layers);
    run -= skip - 1;
  }
  for (int i = 0; i < run; ++i) {
    x = m.layers[i]->as<clip_layer_impl>()->forward(x);
  }
  return m.final_layer_norm(x);
}

text_encoder::hidden_and_pooled text_encoder::encode_sdxl(const at::Tensor& tokens,
                                                          const std::vector<token_embedding_fix>& fixes) const {
  c10::InferenceMode guard;
  auto& m = *impl_;
  const auto device = m.final_layer_norm->weight.device();
  auto ids = tokens.to(device, torch::kLong);
  if (config_.open_clip) {
    ids = pad_after_first_end(ids);
  }
  auto x = m.embed(ids, fixes, dtype_, position_ids_);
  const bool pooled = m.text_projection.defined();
  const int stop = config_.layers - config_.open_clip_layer_idx;
  hidden_and_pooled out;
  for (int i = 0; i < config_.layers; ++i) {
    if (i == stop) {
      out.hidden = x;
      if (!pooled) break;
    }
    x = m.layers[i]->as<clip_layer_impl>()->forward(x);
  }
  if (stop == config_.layers) {
    out.hidden = x;
  }
  // sgm hands SDXL's hidden state over as it is; the final norm only feeds the pooled vector.
  if (config_.final_norm) {
    out.hidden = m.final_layer_norm(out.hidden);
  }
  if (pooled) {
    // OpenCLIP's pool: the end token is the largest id, so argmax finds the first one.
    auto last = m.final_layer_norm(x);
    auto rows = torch::arange(ids.size(0), torch::TensorOptions().dtype(torch::kLong).device(device));
    auto at_end = last.index({rows, ids.argmax(-1)});
    out.pooled = torch::matmul(at_end, m.text_projection.to(at_end.scalar_type())).to(torch::kFloat);
  }
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> text_encoder::named_weights() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (auto& item : impl_->named_parameters(/*recurse=*/true)) {
    out.emplace_back(prefix_ + item.key(), item.value());
  }
  return out;
}

} // namespace sdw
