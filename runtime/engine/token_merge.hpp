#pragma once
/// Token merging (ToMe for SD, as A1111's option token_merging_ratio applies it through tomesd
/// 0.1.3): before a transformer block's self-attention, the most similar tokens of the image are
/// averaged into one, and the attention's output is copied back to every token merged. Only
/// blocks at the UNet's full latent resolution merge (tomesd's max_downsample 1); A1111 turns
/// off tomesd's random choice of destinations, so each 2×2 cell's top-left token is one.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>

namespace sdw {

/// The merge of one block's tokens, decided from their similarity.
class token_merge {
public:
  /// `metric`: the block's input tokens [B, N, C], an h × w image row by row; `r`: how many to merge
  /// away (at most the tokens that are not destinations). Each row decides on its own.
  token_merge(const at::Tensor& metric, int64_t w, int64_t h, int64_t r);

  /// [B, N, C'] → [B, N − r, C']: the unmerged tokens, then the destinations with their merged
  /// tokens averaged in.
  at::Tensor merge(const at::Tensor& x) const;
  /// [B, N − r, C'] → [B, N, C']: each merged token gets its destination's value back.
  at::Tensor unmerge(const at::Tensor& x) const;

private:
  int64_t n_ = 0, num_dst_ = 0, r_ = 0;
  at::Tensor a_idx_, b_idx_;            ///< sources and destinations, positions in the image [1, ·, 1]
  at::Tensor unm_idx_, src_idx_, dst_idx_;  ///< per row: sources kept, sources merged, their destinations
};

/// The merge a transformer block does for its tokens `x` [B, N, C] in a UNet whose input latents
/// are `height` × `width`, at `ratio` (tomesd's compute_merge); none when the block is below full
/// resolution or the ratio merges nothing.
std::optional<token_merge> block_token_merge(const at::Tensor& x, int64_t height, int64_t width, double ratio);

} // namespace sdw
