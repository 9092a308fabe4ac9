#include "runtime/engine/text_encoder.hpp"

#include "runtime/engine/nn_layers.hpp"
#include "runtime/engine/safetensors.hpp"

#include <torch/torch.h>

#include <algorithm>

namespace sdw {
namespace {

namespace tnn = torch::nn;

nn::layer_norm layer_norm(int64_t width) {
  return nn::layer_norm(width);
}

struct clip_attention_impl : tnn::Module {
  clip_attention_impl(int64_t width, int64_t heads) : heads(heads) {
    q_proj = register_module("q_proj", nn::linear(width, width));
    k_proj = register_module("k_proj", nn::linear(width, width));
    v_proj = register_module("v_proj", nn::linear(width, width));
    out_proj = register_module("out_proj", nn::linear(width, width));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto q = nn::split_heads(q_proj(x), heads);
    auto k = nn::split_heads(k_proj(x), heads);
    auto v = nn::split_heads(v_proj(x), heads);
    return out_proj(nn::merge_heads(nn::causal_attention(q, k, v)));
  }
  int64_t heads;
  nn::linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};
};
TORCH_MODULE_IMPL(clip_attention, clip_attention_impl);

struct clip_mlp_impl : tnn::Module {
  clip_mlp_impl(int64_t width, int64_t inner) {
    fc1 = register_module("fc1", nn::linear(width, inner));
    fc2 = register_module("fc2", nn::linear(inner, width));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = fc1(x);
    h = h * torch::sigmoid(1.702 * h);  // quick_gelu, SD1's CLIP activation
    return fc2(h);
  }
  nn::linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE_IMPL(clip_mlp, clip_mlp_impl);

struct clip_layer_impl : tnn::Module {
  clip_layer_impl(const text_encoder_config& c) {
    self_attn = register_module("self_attn", clip_attention(c.width, c.heads));
    layer_norm1 = register_module("layer_norm1", layer_norm(c.width));
    mlp = register_module("mlp", clip_mlp(c.width, c.intermediate));
    layer_norm2 = register_module("layer_norm2", layer_norm(c.width));
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

struct clip_embeddings_impl : tnn::Module {
  clip_embeddings_impl(const text_encoder_config& c) {
    token_embedding = register_module("token_embedding", nn::embedding(c.vocab_size, c.width));
    position_embedding = register_module("position_embedding", nn::embedding(c.max_positions, c.width));
  }
  nn::embedding token_embedding{nullptr}, position_embedding{nullptr};
};
TORCH_MODULE_IMPL(clip_embeddings, clip_embeddings_impl);

struct clip_encoder_impl : tnn::Module {
  clip_encoder_impl(const text_encoder_config& c) {
    layers = register_module("layers", tnn::ModuleList());
    for (int i = 0; i < c.layers; ++i) {
      layers->push_back(clip_layer(c));
    }
  }
  tnn::ModuleList layers{nullptr};
};
TORCH_MODULE_IMPL(clip_encoder, clip_encoder_impl);

} // namespace

// Module names mirror the checkpoint's keys below `cond_stage_model.transformer.text_model.`.
struct text_encoder::impl : tnn::Module {
  explicit impl(const text_encoder_config& c) {
    embeddings = register_module("embeddings", clip_embeddings(c));
    encoder = register_module("encoder", clip_encoder(c));
    final_layer_norm = register_module("final_layer_norm", layer_norm(c.width));
  }
  clip_embeddings embeddings{nullptr};
  clip_encoder encoder{nullptr};
  nn::layer_norm final_layer_norm{nullptr};
};

text_encoder::text_encoder(const text_encoder_config& config)
  : config_(config), impl_(std::make_unique<impl>(config)) {
  impl_->eval();
}

text_encoder::~text_encoder() = default;
text_encoder::text_encoder(text_encoder&&) noexcept = default;
text_encoder& text_encoder::operator=(text_encoder&&) noexcept = default;

void text_encoder::load(const std::shared_ptr<const safetensors_file>& file, const weight_placement& placement) {
  load_weights(*impl_, file, "cond_stage_model.transformer.text_model.", placement);
  dtype_ = placement.dtype;
  // Merged checkpoints sometimes carry float position ids that are not quite integers; A1111
  // loads the buffer, truncating them, so they are used as stored.
  position_ids_ = torch::arange(config_.max_positions, torch::TensorOptions().dtype(torch::kLong));
  if (const st_tensor* t = file->find("cond_stage_model.transformer.text_model.embeddings.position_ids")) {
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
  const int64_t n = ids.size(1);
  auto positions = position_ids_.defined()
                     ? position_ids_.narrow(0, 0, n).to(device)
                     : torch::arange(n, torch::TensorOptions().dtype(torch::kLong).device(device));
  auto x = m.embeddings->token_embedding(ids, dtype_);
  for (const auto& fix : fixes) {
    const int64_t count = std::min(n - fix.position, fix.vectors.size(0));
    if (count > 0) {
      x[fix.row].narrow(0, fix.position, count).copy_(fix.vectors.narrow(0, 0, count).to(device, dtype_));
    }
  }
  x = x + m.embeddings->position_embedding(positions, dtype_).unsqueeze(0);
  const int skip = std::clamp(clip_skip, 1, config_.layers);
  const int run = config_.layers - (skip - 1);
  for (int i = 0; i < run; ++i) {
    x = m.encoder->layers[i]->as<clip_layer_impl>()->forward(x);
  }
  return m.final_layer_norm(x);
}

std::vector<std::pair<std::string, at::Tensor>> text_encoder::named_weights() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (auto& item : impl_->named_parameters(/*recurse=*/true)) {
    out.emplace_back("cond_stage_model.transformer.text_model." + item.key(), item.value());
  }
  return out;
}

} // namespace sdw
