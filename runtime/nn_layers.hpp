#pragma once
/// Layers of the SD networks as torch modules whose parameters start uninitialised: every one is
/// replaced from the checkpoint, so torch::nn's random initialisation (seconds for a billion
/// parameters) would be wasted work. Only the network .cpp files include this header.

#include "runtime/nn_ops.hpp"

#include <torch/torch.h>

namespace sdw::nn {

struct conv2d_impl : torch::nn::Module {
  conv2d_impl(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = -1)
    : stride(stride), padding(padding < 0 ? kernel / 2 : padding) {
    weight = register_parameter("weight", torch::empty({out, in, kernel, kernel}), false);
    bias = register_parameter("bias", torch::empty({out}), false);
  }
  torch::Tensor forward(const torch::Tensor& x) { return torch::conv2d(x, weight, bias, stride, padding); }
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
  torch::Tensor forward(const torch::Tensor& x) { return torch::linear(x, weight, bias); }
  torch::Tensor weight, bias;
};
TORCH_MODULE_IMPL(linear, linear_impl);

/// GroupNorm with 32 groups, computed in float32 (ldm's GroupNorm32).
struct group_norm_impl : torch::nn::Module {
  group_norm_impl(int64_t channels, double eps) : eps(eps) {
    weight = register_parameter("weight", torch::empty({channels}), false);
    bias = register_parameter("bias", torch::empty({channels}), false);
  }
  torch::Tensor forward(const torch::Tensor& x) { return group_norm32(x, weight, bias, eps); }
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
    return torch::layer_norm(x, {weight.size(0)}, weight, bias, eps);
  }
  torch::Tensor weight, bias;
  double eps;
};
TORCH_MODULE_IMPL(layer_norm, layer_norm_impl);

struct embedding_impl : torch::nn::Module {
  embedding_impl(int64_t count, int64_t dim) {
    weight = register_parameter("weight", torch::empty({count, dim}), false);
  }
  torch::Tensor forward(const torch::Tensor& ids) { return torch::embedding(weight, ids); }
  torch::Tensor weight;
};
TORCH_MODULE_IMPL(embedding, embedding_impl);

} // namespace sdw::nn
