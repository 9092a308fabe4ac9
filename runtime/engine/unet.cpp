#include "runtime/engine/unet.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/engine/nn_layers.hpp"
#include "runtime/engine/safetensors.hpp"
#include "runtime/engine/token_merge.hpp"
#include "runtime/engine/unet_graphs.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <string>

namespace sdw {
namespace {

namespace tnn = torch::nn;

/// What a transformer block needs to merge tokens: the UNet input's latent size and the ratio.
struct merge_context {
  double ratio = 0;
  int64_t height = 0, width = 0;
};

nn::conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride = 1) {
  return nn::conv2d(in, out, k, stride);
}

nn::group_norm group_norm(int64_t ch, double eps) {
  return nn::group_norm(ch, eps);
}

torch::Tensor gn(nn::group_norm& norm, const torch::Tensor& x) {
  return norm(x);
}

/// A container whose children are named "0", "1", … at chosen indices, as in ldm's Sequentials.
struct indexed_impl : tnn::Module {
  template <class M>
  M set(int index, M m) {
    return register_module(std::to_string(index), m);
  }
};
TORCH_MODULE_IMPL(indexed, indexed_impl);

struct res_block_impl : tnn::Module {
  res_block_impl(int64_t in, int64_t out, int64_t emb_dim) {
    auto in_layers = register_module("in_layers", indexed());
    in_norm = in_layers->set(0, group_norm(in, 1e-5));
    in_conv = in_layers->set(2, conv(in, out, 3));
    auto emb_layers = register_module("emb_layers", indexed());
    emb_linear = emb_layers->set(1, nn::linear(emb_dim, out));
    auto out_layers = register_module("out_layers", indexed());
    out_norm = out_layers->set(0, group_norm(out, 1e-5));
    out_conv = out_layers->set(3, conv(out, out, 3));
    if (in != out) {
      skip = register_module("skip_connection", conv(in, out, 1));
    }
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& emb) {
    auto h = in_conv(torch::silu(gn(in_norm, x)));
    h = h + emb_linear(torch::silu(emb)).unsqueeze(-1).unsqueeze(-1);
    h = out_conv(torch::silu(gn(out_norm, h)));
    return (skip ? skip(x) : x) + h;
  }
  nn::group_norm in_norm{nullptr}, out_norm{nullptr};
  nn::conv2d in_conv{nullptr}, out_conv{nullptr}, skip{nullptr};
  nn::linear emb_linear{nullptr};
};
TORCH_MODULE_IMPL(res_block, res_block_impl);

struct cross_attention_impl : tnn::Module {
  cross_attention_impl(int64_t dim, int64_t context_dim, int64_t heads) : heads(heads) {
    to_q = register_module("to_q", nn::linear(dim, dim, false));
    to_k = register_module("to_k", nn::linear(context_dim, dim, false));
    to_v = register_module("to_v", nn::linear(context_dim, dim, false));
    auto to_out_list = register_module("to_out", indexed());
    to_out = to_out_list->set(0, nn::linear(dim, dim));
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context) {
    auto q = nn::split_heads(to_q(x), heads);
    auto k = nn::split_heads(to_k(context), heads);
    auto v = nn::split_heads(to_v(context), heads);
    return to_out(nn::merge_heads(nn::attention(q, k, v)));
  }
  int64_t heads;
  nn::linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr}, to_out{nullptr};
};
TORCH_MODULE_IMPL(cross_attention, cross_attention_impl);

struct transformer_block_impl : tnn::Module {
  transformer_block_impl(int64_t dim, int64_t context_dim, int64_t heads) {
    attn1 = register_module("attn1", cross_attention(dim, dim, heads));
    attn2 = register_module("attn2", cross_attention(dim, context_dim, heads));
    auto ff = register_module("ff", indexed());
    auto net = ff->register_module("net", indexed());
    auto geglu = net->set(0, indexed());
    ff_proj = geglu->register_module("proj", nn::linear(dim, dim * 8));
    ff_out = net->set(2, nn::linear(dim * 4, dim));
    norm1 = register_module("norm1", nn::layer_norm(dim));
    norm2 = register_module("norm2", nn::layer_norm(dim));
    norm3 = register_module("norm3", nn::layer_norm(dim));
  }
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& context, const merge_context& tome) {
    // Token merging (tomesd with A1111's settings) shrinks the self-attention only.
    if (auto m = block_token_merge(x, tome.height, tome.width, tome.ratio)) {
      auto h = m->merge(norm1(x));
      x = m->unmerge(attn1(h, h)) + x;
    } else {
      auto h = norm1(x);
      x = attn1(h, h) + x;
    }
    x = attn2(norm2(x), context) + x;
    auto parts = ff_proj(norm3(x)).chunk(2, -1);
    return ff_out(parts[0] * torch::gelu(parts[1])) + x;
  }
  cross_attention attn1{nullptr}, attn2{nullptr};
  nn::linear ff_proj{nullptr}, ff_out{nullptr};
  nn::layer_norm norm1{nullptr}, norm2{nullptr}, norm3{nullptr};
};
TORCH_MODULE_IMPL(transformer_block, transformer_block_impl);

struct spatial_transformer_impl : tnn::Module {
  spatial_transformer_impl(int64_t ch, int64_t heads, int depth, int64_t context_dim, bool linear)
    : linear(linear) {
    norm = register_module("norm", group_norm(ch, 1e-6));
    if (linear) {
      proj_in_linear = register_module("proj_in", nn::linear(ch, ch));
      proj_out_linear = register_module("proj_out", nn::linear(ch, ch));
    } else {
      proj_in_conv = register_module("proj_in", conv(ch, ch, 1));
      proj_out_conv = register_module("proj_out", conv(ch, ch, 1));
    }
    blocks = register_module("transformer_blocks", tnn::ModuleList());
    for (int d = 0; d < depth; ++d) {
      blocks->push_back(transformer_block(ch, context_dim, heads));
    }
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context, const merge_context& tome) {
    const auto b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
    auto y = gn(norm, x);
    if (!linear) {
      y = proj_in_conv(y);
    }
    // Tokens are the pixels: with channels-last activations this is a view, not a copy.
    y = y.permute({0, 2, 3, 1}).reshape({b, h * w, c});
    if (linear) {
      y = proj_in_linear(y);
    }
    for (auto& blk : *blocks) {
      y = blk->as<transformer_block_impl>()->forward(y, context, tome);
    }
    if (linear) {
      y = proj_out_linear(y);
    }
    y = y.reshape({b, h, w, c}).permute({0, 3, 1, 2});
    if (!linear) {
      y = proj_out_conv(y);
    }
    return y + x;
  }
  bool linear;
  nn::group_norm norm{nullptr};
  nn::conv2d proj_in_conv{nullptr}, proj_out_conv{nullptr};
  nn::linear proj_in_linear{nullptr}, proj_out_linear{nullptr};
  tnn::ModuleList blocks{nullptr};
};
TORCH_MODULE_IMPL(spatial_transformer, spatial_transformer_impl);

/// ldm's Downsample: a stride-2 conv named `op`.
struct downsample_impl : tnn::Module {
  explicit downsample_impl(int64_t ch) { op = register_module("op", conv(ch, ch, 3, 2)); }
  torch::Tensor forward(const torch::Tensor& x) { return op(x); }
  nn::conv2d op{nullptr};
};
TORCH_MODULE_IMPL(downsample, downsample_impl);

/// ldm's Upsample: nearest ×2, then a conv named `conv`.
struct upsample_impl : tnn::Module {
  explicit upsample_impl(int64_t ch) { conv_ = register_module("conv", conv(ch, ch, 3)); }
  torch::Tensor forward(const torch::Tensor& x) {
    namespace F = tnn::functional;
    return conv_(F::interpolate(
      x, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2.0, 2.0}).mode(torch::kNearest)));
  }
  nn::conv2d conv_{nullptr};
};
TORCH_MODULE_IMPL(upsample, upsample_impl);

/// One entry of input_blocks / middle_block / output_blocks: layers applied in order.
struct timestep_block_impl : tnn::Module {
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& emb, const torch::Tensor& context,
                        const merge_context& tome) {
    for (auto& layer : layers) {
      if (auto* r = layer->as<res_block_impl>()) {
        x = r->forward(x, emb);
      } else if (auto* s = layer->as<spatial_transformer_impl>()) {
        x = s->forward(x, context, tome);
      } else if (auto* d = layer->as<downsample_impl>()) {
        x = d->forward(x);
      } else if (auto* u = layer->as<upsample_impl>()) {
        x = u->forward(x);
      } else if (auto* c = layer->as<nn::conv2d_impl>()) {
        x = c->forward(x);
      }
    }
    return x;
  }
  void add(std::shared_ptr<tnn::Module> m) {
    register_module(std::to_string(layers.size()), m);
    layers.push_back(std::move(m));
  }
  std::vector<std::shared_ptr<tnn::Module>> layers;
};
TORCH_MODULE_IMPL(timestep_block, timestep_block_impl);

} // namespace

struct unet::impl : tnn::Module {
  explicit impl(const unet_config& c) {
    const int64_t mc = c.model_channels;
    const int64_t emb_dim = mc * 4;
    auto te = register_module("time_embed", indexed());
    time_linear1 = te->set(0, nn::linear(mc, emb_dim));
    time_linear2 = te->set(2, nn::linear(emb_dim, emb_dim));
    if (c.adm_in_channels > 0) {
      // sgm's num_classes "sequential": label_emb.0 = Sequential(Linear, SiLU, Linear).
      auto label = register_module("label_emb", indexed())->set(0, indexed());
      label_linear1 = label->set(0, nn::linear(c.adm_in_channels, emb_dim));
      label_linear2 = label->set(2, nn::linear(emb_dim, emb_dim));
    }
    input_blocks = register_module("input_blocks", tnn::ModuleList());
    output_blocks = register_module("output_blocks", tnn::ModuleList());

    auto heads_for = [&](int64_t ch) {
      return c.num_head_channels > 0 ? ch / c.num_head_channels : c.num_heads;
    };
    auto with_attention = [&](int ds) {
      return std::find(c.attention_resolutions.begin(), c.attention_resolutions.end(), ds) !=
             c.attention_resolutions.end();
    };
    auto transformer = [&](int64_t ch, int depth) {
      return spatial_transformer(ch, heads_for(ch), depth, c.context_dim, c.use_linear_in_transformer);
    };

    {
      timestep_block first;
      first->add(conv(c.in_channels, mc, 3).ptr());
      input_blocks->push_back(first);
    }
    std::vector<int64_t> chans{mc};
    int64_t ch = mc;
    int ds = 1;
    const int levels = static_cast<int>(c.channel_mult.size());
    for (int level = 0; level < levels; ++level) {
      for (int i = 0; i < c.num_res_blocks; ++i) {
        timestep_block blk;
        const int64_t out = c.channel_mult[level] * mc;
        blk->add(res_block(ch, out, emb_dim).ptr());
        ch = out;
        if (with_attention(ds)) {
          blk->add(transformer(ch, level_transformer_depth(c, level)).ptr());
        }
        input_blocks->push_back(blk);
        chans.push_back(ch);
      }
      if (level != levels - 1) {
        timestep_block blk;
        blk->add(downsample(ch).ptr());
        input_blocks->push_back(blk);
        chans.push_back(ch);
        ds *= 2;
      }
    }
    middle_block = register_module("middle_block", timestep_block());
    middle_block->add(res_block(ch, ch, emb_dim).ptr());
    middle_block->add(transformer(ch, middle_transformer_depth(c)).ptr());
    middle_block->add(res_block(ch, ch, emb_dim).ptr());
    for (int level = levels - 1; level >= 0; --level) {
      for (int i = 0; i <= c.num_res_blocks; ++i) {
        timestep_block blk;
        const int64_t skip = chans.back();
        chans.pop_back();
        const int64_t out = c.channel_mult[level] * mc;
        blk->add(res_block(ch + skip, out, emb_dim).ptr());
        ch = out;
        if (with_attention(ds)) {
          blk->add(transformer(ch, level_transformer_depth(c, level)).ptr());
        }
        if (level > 0 && i == c.num_res_blocks) {
          blk->add(upsample(ch).ptr());
          ds /= 2;
        }
        output_blocks->push_back(blk);
      }
    }
    auto out = register_module("out", indexed());
    out_norm = out->set(0, group_norm(ch, 1e-5));
    out_conv = out->set(2, conv(mc, c.out_channels, 3));
  }

  nn::linear time_linear1{nullptr}, time_linear2{nullptr};
  nn::linear label_linear1{nullptr}, label_linear2{nullptr};
  tnn::ModuleList input_blocks{nullptr}, output_blocks{nullptr};
  timestep_block middle_block{nullptr};
  nn::group_norm out_norm{nullptr};
  nn::conv2d out_conv{nullptr};
};

unet::unet(const unet_config& config) : config_(config), impl_(std::make_unique<impl>(config)) {
  impl_->eval();
}

unet::~unet() = default;
unet::unet(unet&&) noexcept = default;
unet& unet::operator=(unet&&) noexcept = default;

void unet::load(const std::shared_ptr<const safetensors_file>& file, const weight_placement& placement) {
  load_weights(*impl_, file, "model.diffusion_model.", placement);
  if (placement.channels_last) {
    to_channels_last(*impl_);
    layout_ = at::MemoryFormat::ChannelsLast;
  }
  dtype_ = placement.dtype;
  graphs_.reset();
  if (placement.device.is_cuda() && placement.cuda_graphs) {
    graphs_ = std::make_unique<unet_graphs>();
  }
}

void unet::drop_graphs() const {
  if (graphs_) {
    graphs_->clear();
  }
}

void unet::use_graphs(bool on) const {
  if (graphs_) {
    graphs_->set_enabled(on);
  }
}

bool unet::graphs_on() const { return graphs_ && graphs_->enabled(); }

at::Tensor unet::forward(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context, const at::Tensor& y,
                         double token_merging) const {
  const bool wants_y = config_.adm_in_channels > 0;
  if (wants_y != y.defined() ||
      (wants_y && (y.dim() != 2 || y.size(0) != x.size(0) || y.size(1) != config_.adm_in_channels))) {
    throw error(errc::internal, "unet",
                wants_y ? "this UNet needs y of shape [batch, " + std::to_string(config_.adm_in_channels) + "]"
                        : std::string("this UNet takes no y"));
  }
  // Merged steps run eagerly: the graphs replay unmerged steps.
  if (graphs_ && token_merging <= 0) {
    return graphs_->run(x, t, context, y,
                        [this](const at::Tensor& gx, const at::Tensor& gt, const at::Tensor& gc, const at::Tensor& gy) {
                          return forward_eager(gx, gt, gc, gy, 0);
                        });
  }
  return forward_eager(x, t, context, y, token_merging);
}

at::Tensor unet::forward_eager(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context,
                               const at::Tensor& y, double token_merging) const {
  c10::InferenceMode guard;
  auto& m = *impl_;
  const auto dtype = dtype_;
  const auto device = m.out_conv->weight.device();
  // A1111's apply_model casts timesteps to the UNet dtype (fp16 on GPU) before ldm embeds them.
  auto steps = dtype == torch::kFloat ? t.to(device) : t.to(device, dtype).to(torch::kFloat);
  auto emb = nn::timestep_embedding(steps, config_.model_channels).to(dtype);
  emb = m.time_linear2(torch::silu(m.time_linear1(emb)));
  if (m.label_linear1) {
    emb = emb + m.label_linear2(torch::silu(m.label_linear1(y.to(device, dtype))));
  }
  auto ctx = context.to(device, dtype);
  // Channels-last activations with channels-last conv weights: oneDNN and cuDNN run their
  // fastest convolutions without reordering every layer's input.
  auto h = x.to(device, dtype).contiguous(layout_);
  const merge_context tome{token_merging, x.size(2), x.size(3)};
  std::vector<torch::Tensor> skips;
  skips.reserve(m.input_blocks->size());
  for (auto& blk : *m.input_blocks) {
    h = blk->as<timestep_block_impl>()->forward(h, emb, ctx, tome);
    skips.push_back(h);
  }
  h = m.middle_block->forward(h, emb, ctx, tome);
  for (auto& blk : *m.output_blocks) {
    const auto& skip = skips.back();
    if (h.size(2) != skip.size(2) || h.size(3) != skip.size(3)) {
      // Sizes that are multiples of 8 but not 64 upsample one row/column too many; A1111
      // resizes to the skip's size (sd_hijack_unet's cat).
      namespace F = tnn::functional;
      h = F::interpolate(h, F::InterpolateFuncOptions().size(std::vector<int64_t>{skip.size(2), skip.size(3)})
                              .mode(torch::kNearest));
    }
    h = torch::cat({h, skip}, 1);
    skips.pop_back();
    h = blk->as<timestep_block_impl>()->forward(h, emb, ctx, tome);
  }
  h = m.out_conv(torch::silu(gn(m.out_norm, h)));
  return h.to(x.scalar_type()).contiguous();
}

std::vector<std::pair<std::string, at::Tensor>> unet::named_weights() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (auto& item : impl_->named_parameters(/*recurse=*/true)) {
    out.emplace_back("model.diffusion_model." + item.key(), item.value());
  }
  return out;
}

} // namespace sdw
