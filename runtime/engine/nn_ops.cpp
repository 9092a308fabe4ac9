#include "runtime/engine/nn_ops.hpp"

#include <ATen/ATen.h>

#include <cmath>

namespace sdw::nn {

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  return at::scaled_dot_product_attention(q, k, v);
}

at::Tensor causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const auto n = q.size(-2);
  auto scores = at::matmul(q, k.transpose(-1, -2)) * (1.0 / std::sqrt(static_cast<double>(q.size(-1))));
  auto mask = at::ones({n, n}, q.options().dtype(at::kBool)).triu(1);
  scores = scores.masked_fill(mask, -std::numeric_limits<float>::infinity());
  return at::matmul(at::softmax(scores, -1), v);
}

at::Tensor split_heads(const at::Tensor& x, int64_t heads) {
  const auto b = x.size(0), l = x.size(1), c = x.size(2);
  return x.view({b, l, heads, c / heads}).transpose(1, 2);
}

at::Tensor merge_heads(const at::Tensor& x) {
  const auto b = x.size(0), h = x.size(1), l = x.size(2), d = x.size(3);
  return x.transpose(1, 2).reshape({b, l, h * d});
}

at::Tensor group_norm32(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps) {
  if (x.scalar_type() == at::kFloat) {
    return at::group_norm(x, 32, weight, bias, eps);
  }
  return at::group_norm(x.to(at::kFloat), 32, weight.to(at::kFloat), bias.to(at::kFloat), eps)
    .to(x.scalar_type());
}

at::Tensor timestep_embedding(const at::Tensor& timesteps, int64_t dim) {
  const int64_t half = dim / 2;
  auto opts = at::TensorOptions().dtype(at::kFloat).device(timesteps.device());
  auto freqs = at::exp(-std::log(10000.0) * at::arange(0, half, opts) / static_cast<double>(half));
  auto args = timesteps.to(at::kFloat).unsqueeze(1) * freqs.unsqueeze(0);
  auto emb = at::cat({at::cos(args), at::sin(args)}, -1);
  if (dim % 2) {
    emb = at::cat({emb, at::zeros_like(emb.narrow(1, 0, 1))}, -1);
  }
  return emb;
}

namespace {
thread_local bool circular = false;
} // namespace

circular_padding_scope::circular_padding_scope(bool enable) : previous_(circular) { circular = enable; }
circular_padding_scope::~circular_padding_scope() { circular = previous_; }
bool circular_padding() { return circular; }

} // namespace sdw::nn
