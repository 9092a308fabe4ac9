#include "runtime/engine/token_merge.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

namespace sdw {
namespace {

constexpr int64_t stride = 2;  // tomesd's sx = sy = 2: one destination per 2×2 cell

} // namespace

token_merge::token_merge(const at::Tensor& metric, int64_t w, int64_t h, int64_t r) : n_(metric.size(1)) {
  const int64_t batch = metric.size(0);
  const int64_t cells_y = h / stride, cells_x = w / stride;
  num_dst_ = cells_y * cells_x;
  // Destinations -1, sources 0: an argsort lists destinations, then sources. The same sort as
  // tomesd's keeps the order of equal keys, and with it which row of `scores` is which token.
  auto marks = torch::zeros({h, w}, torch::TensorOptions().dtype(torch::kLong).device(metric.device()));
  marks.slice(0, 0, cells_y * stride, stride).slice(1, 0, cells_x * stride, stride).fill_(-1);
  const auto order = marks.reshape({1, -1, 1}).argsort(/*dim=*/1, /*descending=*/false);
  a_idx_ = order.slice(1, num_dst_);
  b_idx_ = order.slice(1, 0, num_dst_);

  const auto unit = metric / at::linalg_vector_norm(metric, 2, {-1}, /*keepdim=*/true);
  const int64_t c = unit.size(-1), sources = n_ - num_dst_;
  const auto a = unit.gather(1, a_idx_.expand({batch, sources, c}));
  const auto b = unit.gather(1, b_idx_.expand({batch, num_dst_, c}));
  const auto scores = a.matmul(b.transpose(-1, -2));
  r_ = std::min(sources, r);
  // Each source's most similar destination; the r sources closest to theirs merge.
  const auto [node_max, node_idx] = scores.max(-1);
  const auto edge_idx = node_max.argsort(-1, /*descending=*/true).unsqueeze(-1);
  unm_idx_ = edge_idx.slice(1, r_);
  src_idx_ = edge_idx.slice(1, 0, r_);
  dst_idx_ = node_idx.unsqueeze(-1).gather(-2, src_idx_);
}

at::Tensor token_merge::merge(const at::Tensor& x) const {
  const int64_t batch = x.size(0), c = x.size(-1), sources = n_ - num_dst_;
  auto src = x.gather(1, a_idx_.expand({batch, sources, c}));
  auto dst = x.gather(1, b_idx_.expand({batch, num_dst_, c}));
  const auto unm = src.gather(-2, unm_idx_.expand({batch, sources - r_, c}));
  src = src.gather(-2, src_idx_.expand({batch, r_, c}));
  dst = dst.scatter_reduce(-2, dst_idx_.expand({batch, r_, c}), src, "mean");
  return torch::cat({unm, dst}, 1);
}

at::Tensor token_merge::unmerge(const at::Tensor& x) const {
  const int64_t batch = x.size(0), c = x.size(-1), sources = n_ - num_dst_;
  const int64_t kept = unm_idx_.size(1);
  const auto unm = x.slice(1, 0, kept);
  const auto dst = x.slice(1, kept);
  const auto src = dst.gather(-2, dst_idx_.expand({batch, r_, c}));
  const auto sources_at = a_idx_.expand({batch, sources, 1});
  auto out = torch::zeros({batch, n_, c}, x.options());
  out.scatter_(-2, b_idx_.expand({batch, num_dst_, c}), dst);
  out.scatter_(-2, sources_at.gather(1, unm_idx_).expand({batch, kept, c}), unm);
  out.scatter_(-2, sources_at.gather(1, src_idx_).expand({batch, r_, c}), src);
  return out;
}

std::optional<token_merge> block_token_merge(const at::Tensor& x, int64_t height, int64_t width, double ratio) {
  const int64_t tokens = x.size(1);
  if (ratio <= 0 || tokens <= 0) return std::nullopt;
  // How far below the input's resolution the block is, from its token count.
  const auto downsample = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(height * width / tokens))));
  if (downsample > 1) return std::nullopt;
  const auto r = static_cast<int64_t>(static_cast<double>(tokens) * ratio);
  if (r <= 0 || height < stride || width < stride) return std::nullopt;
  return token_merge(x, width, height, r);
}

} // namespace sdw
