#pragma once
/// Small tensor operations shared by the SD modules (attention through libtorch's fused
/// scaled-dot-product kernels, head splitting), kept in one place.

#include <ATen/core/Tensor.h>

namespace sdw::nn {

/// Multi-head attention core: softmax(q·kᵀ/√d)·v over [B, heads, L, d] tensors, through
/// at::scaled_dot_product_attention (flash / memory-efficient kernels where the device has them).
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

/// The same with a causal mask (each token sees itself and earlier ones), as CLIP's text model.
at::Tensor causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

/// [B, L, heads·d] → [B, heads, L, d].
at::Tensor split_heads(const at::Tensor& x, int64_t heads);

/// [B, heads, L, d] → [B, L, heads·d].
at::Tensor merge_heads(const at::Tensor& x);

/// GroupNorm with 32 groups computed in float32 whatever the model dtype (ldm's GroupNorm32).
at::Tensor group_norm32(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps);

/// The sinusoidal timestep embedding of ldm's UNet: [cos | sin] halves, max period 10000, float32.
at::Tensor timestep_embedding(const at::Tensor& timesteps, int64_t dim);

/// A1111's tiling: while a scope lives on this thread, every padded convolution of the UNet and the
/// VAE pads circularly (PyTorch's padding_mode "circular"), so images tile seamlessly.
class circular_padding_scope {
public:
  explicit circular_padding_scope(bool enable);
  ~circular_padding_scope();
  circular_padding_scope(const circular_padding_scope&) = delete;
  circular_padding_scope& operator=(const circular_padding_scope&) = delete;

private:
  bool previous_;
};

/// Whether convolutions on this thread pad circularly.
bool circular_padding();

} // namespace sdw::nn
