#pragma once
/// Layers of the SD networks as torch modules whose parameters start uninitialised: every one is
/// replaced from the checkpoint, so torch::nn's random initialisation (seconds for a billion
/// parameters) would be wasted work. Only the network .cpp files include this header.

#include "runtime/engine/nn_ops.hpp"

#include <torch/torch.h>

namespace sdw::nn {

/// A parameter in the dtype of the activations it meets (weights may be kept as stored).
inline torch::Tensor as_type_of(const torch::Tensor& param, const torch::Tensor& x) {
  return !param.defined() || param.scalar_type() == x.scalar_type() ? param : param.to(x.scalar_type());
}

struct conv2d_impl : torch::nn::Module {
  conv2d_impl(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = -1)
    : stride(stride), padding(padding < 0 ? kernel / 2 : padding) {
    weight = register_parameter("weight", torch::empty({out, in, kernel, kernel}), false);
    bias = register_parameter("bias", torch::empty({out}), false);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    if (padding > 0 && circular_padding()) {
      const auto padded = at::pad(x, {padding, padding, padding, padding}, "circular");
      return torch::conv2d(padded, as_type_of(weight, x), as_type_of(bias, x), stride);
    }
    return torch::conv2d(x, as_type_of(weight, x), as_type_of(bias, x), stride, padding);
  }
  torch::Tensor weight, bias;
  int64_t stride, padding;
};
TORCH_MODULE_IMPL(conv2d, conv2d_impl);

struct linear_impl : torch::nn::Module {
  linear_impl(int64_t in, int64_t out, bool with_bias = true) {
    weight = register_parameter("weight", torch::empty({out, in}), false);
    if (with_bias) {
      bias = register_parameter("bias", torch::empty({out}), false);
    }
  }
  torch::Tensor forward(const torch::Tensor& x) { return torch::linear(x, as_type_of(weight, x), as_type_of(bias, x)); }
  torch::Tensor weight, bias;
};
TORCH_MODULE_IMPL(linear, linear_impl);

/// GroupNorm with 32 groups, computed in float32 (ldm's GroupNorm32).
struct group_norm_impl : torch::nn::Module {
  group_norm_impl(int64_t channels, double eps) : eps(eps) {
    weight = register_parameter("weight", torch::empty({channels}), false);
    bias = register_parameter("bias", torch::empty({channels}), false);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return group_norm32(x, as_type_of(weight, x), as_type_of(bias, x), eps);
  }
  torch::Tensor weight, bias;
  double eps;
};
TORCH_MODULE_IMPL(group_norm, group_norm_impl);

struct layer_norm_impl : torch::nn::Module {
  explicit layer_norm_impl(int64_t dim, double eps = 1e-5) : eps(eps) {
    weight = register_parameter("weight", torch::empty({dim}), false);
    bias = register_parameter("bias", torch::empty({dim}), false);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return torch::layer_norm(x, {weight.size(0)}, as_type_of(weight, x), as_type_of(bias, x), eps);
  }
  torch::Tensor weight, bias;
  double eps;
};
TORCH_MODULE_IMPL(layer_norm, layer_norm_impl);

struct embedding_impl : torch::nn::Module {
  embedding_impl(int64_t count, int64_t dim) {
    weight = register_parameter("weight", torch::empty({count, dim}), false);
  }
  /// Rows come out in `dtype` (the compute dtype) whatever the stored one.
  torch::Tensor forward(const torch::Tensor& ids, c10::ScalarType dtype) {
    return torch::embedding(weight, ids).to(dtype);
  }
  torch::Tensor weight;
};
TORCH_MODULE_IMPL(embedding, embedding_impl);

} // namespace sdw::nn
