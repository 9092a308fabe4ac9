#include "runtime/engine/vae.hpp"

#include "runtime/engine/nn_layers.hpp"
#include "runtime/engine/safetensors.hpp"

#include <torch/torch.h>

#include <cmath>

namespace sdw {
namespace {

namespace tnn = torch::nn;
namespace F = tnn::functional;

nn::conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride = 1, int64_t pad = -1) {
  return nn::conv2d(in, out, k, stride, pad);
}

nn::group_norm normalize(int64_t ch) {
  return nn::group_norm(ch, 1e-6);
}

torch::Tensor gn(nn::group_norm& norm, const torch::Tensor& x) {
  return norm(x);
}

struct resnet_block_impl : tnn::Module {
  resnet_block_impl(int64_t in, int64_t out) {
    norm1 = register_module("norm1", normalize(in));
    conv1 = register_module("conv1", conv(in, out, 3));
    norm2 = register_module("norm2", normalize(out));
    conv2 = register_module("conv2", conv(out, out, 3));
    if (in != out) {
      nin_shortcut = register_module("nin_shortcut", conv(in, out, 1));
    }
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = conv1(torch::silu(gn(norm1, x)));
    h = conv2(torch::silu(gn(norm2, h)));
    return (nin_shortcut ? nin_shortcut(x) : x) + h;
  }
  nn::group_norm norm1{nullptr}, norm2{nullptr};
  nn::conv2d conv1{nullptr}, conv2{nullptr}, nin_shortcut{nullptr};
};
TORCH_MODULE_IMPL(resnet_block, resnet_block_impl);

struct attn_block_impl : tnn::Module {
  explicit attn_block_impl(int64_t ch) {
    norm = register_module("norm", normalize(ch));
    q = register_module("q", conv(ch, ch, 1));
    k = register_module("k", conv(ch, ch, 1));
    v = register_module("v", conv(ch, ch, 1));
    proj_out = register_module("proj_out", conv(ch, ch, 1));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    const auto b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
    auto hn = gn(norm, x);
    auto as_tokens = [&](const torch::Tensor& t) { return t.permute({0, 2, 3, 1}).reshape({b, 1, h * w, c}); };
    auto out = nn::attention(as_tokens(q(hn)), as_tokens(k(hn)), as_tokens(v(hn)));
    out = out.reshape({b, h, w, c}).permute({0, 3, 1, 2});
    return x + proj_out(out);
  }
  nn::group_norm norm{nullptr};
  nn::conv2d q{nullptr}, k{nullptr}, v{nullptr}, proj_out{nullptr};
};
TORCH_MODULE_IMPL(attn_block, attn_block_impl);

struct mid_impl : tnn::Module {
  explicit mid_impl(int64_t ch) {
    block_1 = register_module("block_1", resnet_block(ch, ch));
    attn_1 = register_module("attn_1", attn_block(ch));
    block_2 = register_module("block_2", resnet_block(ch, ch));
  }
  torch::Tensor forward(const torch::Tensor& x) { return block_2(attn_1(block_1(x))); }
  resnet_block block_1{nullptr}, block_2{nullptr};
  attn_block attn_1{nullptr};
};
TORCH_MODULE_IMPL(mid, mid_impl);

/// One resolution level: `block.{j}` and an optional `downsample.conv` / `upsample.conv`.
struct level_impl : tnn::Module {
  level_impl() { block = register_module("block", tnn::ModuleList()); }
  tnn::ModuleList block{nullptr};
  nn::conv2d resample{nullptr};
};
TORCH_MODULE_IMPL(level, level_impl);

struct encoder_impl : tnn::Module {
  explicit encoder_impl(const vae_config& c) {
    conv_in = register_module("conv_in", conv(c.in_channels, c.ch, 3));
    down = register_module("down", tnn::ModuleList());
    int64_t block_in = c.ch;
    const int levels = static_cast<int>(c.ch_mult.size());
    for (int i = 0; i < levels; ++i) {
      level lv;
      const int64_t block_out = c.ch * c.ch_mult[i];
      for (int j = 0; j < c.num_res_blocks; ++j) {
        lv->block->push_back(resnet_block(block_in, block_out));
        block_in = block_out;
      }
      if (i != levels - 1) {
        auto holder = lv->register_module("downsample", tnn::ModuleList());
        lv->resample = conv(block_in, block_in, 3, 2, 0);
        holder->register_module("conv", lv->resample);
      }
      down->push_back(lv);
    }
    mid_ = register_module("mid", mid(block_in));
    norm_out = register_module("norm_out", normalize(block_in));
    conv_out = register_module("conv_out", conv(block_in, 2 * c.z_channels, 3));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = conv_in(x);
    for (auto& m : *down) {
      auto* lv = m->as<level_impl>();
      for (auto& b : *lv->block) {
        x = b->as<resnet_block_impl>()->forward(x);
      }
      if (lv->resample) {
        // ldm pads right and bottom only before the stride-2 conv
        x = lv->resample(F::pad(x, F::PadFuncOptions({0, 1, 0, 1})));
      }
    }
    x = mid_(x);
    return conv_out(torch::silu(gn(norm_out, x)));
  }
  nn::conv2d conv_in{nullptr}, conv_out{nullptr};
  tnn::ModuleList down{nullptr};
  mid mid_{nullptr};
  nn::group_norm norm_out{nullptr};
};
TORCH_MODULE_IMPL(encoder, encoder_impl);

struct decoder_impl : tnn::Module {
  explicit decoder_impl(const vae_config& c) {
    const int levels = static_cast<int>(c.ch_mult.size());
    int64_t block_in = c.ch * c.ch_mult[levels - 1];
    conv_in = register_module("conv_in", conv(c.z_channels, block_in, 3));
    mid_ = register_module("mid", mid(block_in));
    std::vector<level> ups(levels);
    for (int i = levels - 1; i >= 0; --i) {
      level lv;
      const int64_t block_out = c.ch * c.ch_mult[i];
      for (int j = 0; j <= c.num_res_blocks; ++j) {
        lv->block->push_back(resnet_block(block_in, block_out));
        block_in = block_out;
      }
      if (i != 0) {
        auto holder = lv->register_module("upsample", tnn::ModuleList());
        lv->resample = conv(block_in, block_in, 3);
        holder->register_module("conv", lv->resample);
      }
      ups[i] = lv;
    }
    up = register_module("up", tnn::ModuleList());
    for (auto& lv : ups) {
      up->push_back(lv);
    }
    norm_out = register_module("norm_out", normalize(block_in));
    conv_out = register_module("conv_out", conv(block_in, c.out_ch, 3));
  }
  torch::Tensor forward(torch::Tensor z) {
    auto x = mid_(conv_in(z));
    for (int i = static_cast<int>(up->size()) - 1; i >= 0; --i) {
      auto* lv = up[i]->as<level_impl>();
      for (auto& b : *lv->block) {
        x = b->as<resnet_block_impl>()->forward(x);
      }
      if (lv->resample) {
        x = lv->resample(F::interpolate(
          x, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2.0, 2.0}).mode(torch::kNearest)));
      }
    }
    return conv_out(torch::silu(gn(norm_out, x)));
  }
  nn::conv2d conv_in{nullptr}, conv_out{nullptr};
  mid mid_{nullptr};
  tnn::ModuleList up{nullptr};
  nn::group_norm norm_out{nullptr};
};
TORCH_MODULE_IMPL(decoder, decoder_impl);

} // namespace

struct vae::impl : tnn::Module {
  explicit impl(const vae_config& c) {
    enc = register_module("encoder", encoder(c));
    dec = register_module("decoder", decoder(c));
    quant_conv = register_module("quant_conv", conv(2 * c.z_channels, 2 * c.embed_dim, 1));
    post_quant_conv = register_module("post_quant_conv", conv(c.embed_dim, c.z_channels, 1));
  }
  encoder enc{nullptr};
  decoder dec{nullptr};
  nn::conv2d quant_conv{nullptr}, post_quant_conv{nullptr};
};

size_t vae::weight_bytes() const {
  size_t n = 0;
  for (const auto& p : impl_->parameters()) {
    n += p.nbytes();
  }
  return n;
}

vae::vae(const vae_config& config) : config_(config), impl_(std::make_unique<impl>(config)) {
  impl_->eval();
}

vae::~vae() = default;
vae::vae(vae&&) noexcept = default;
vae& vae::operator=(vae&&) noexcept = default;

void vae::load(const std::shared_ptr<const safetensors_file>& file, const weight_placement& placement,
               const std::string& prefix) {
  load_weights(*impl_, file, prefix, placement);
  if (placement.channels_last) {
    to_channels_last(*impl_);
    layout_ = at::MemoryFormat::ChannelsLast;
  }
  dtype_ = placement.dtype;
}

at::Tensor vae::decode(const at::Tensor& latents) const {
  c10::InferenceMode guard;
  auto& m = *impl_;
  const auto& w = m.post_quant_conv->weight;
  // Channels-last, as the UNet runs (see unet::forward).
  auto z = latents.to(w.device(), dtype_).contiguous(layout_) * (1.0 / config_.scale_factor);
  return m.dec->forward(m.post_quant_conv(z)).contiguous();
}

std::pair<at::Tensor, at::Tensor> vae::encode_moments(const at::Tensor& images) const {
  c10::InferenceMode guard;
  auto& m = *impl_;
  const auto& w = m.quant_conv->weight;
  auto moments =
    m.quant_conv(m.enc->forward(images.to(w.device(), dtype_).contiguous(layout_))).contiguous();
  auto parts = moments.chunk(2, 1);
  return {parts[0], torch::clamp(parts[1], -30.0, 20.0)};
}

} // namespace sdw
