#include "runtime/engine/sdxl_conditioning.hpp"

#include "runtime/engine/embedding_library.hpp"
#include "runtime/engine/model_config.hpp"
#include "runtime/engine/nn_ops.hpp"
#include "runtime/engine/prompt_chunks.hpp"
#include "runtime/engine/text_encoder.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>

namespace sdw {

namespace {

// A1111's emphasis after the transformer, per embedder: multiply, then (Original) restore the mean.
at::Tensor emphasise(at::Tensor z, const at::Tensor& multipliers, emphasis_mode mode) {
  if (mode == emphasis_mode::original) {
    auto original_mean = z.mean();
    z = z * multipliers.expand(z.sizes());
    return z * (original_mean / z.mean());
  }
  if (mode == emphasis_mode::no_norm) {
    return z * multipliers.expand(z.sizes());
  }
  return z;
}

} // namespace

sdxl_text_cond encode_sdxl_texts(const text_encoder& clip_l, const text_encoder& bigg, const clip_tokenizer& tokenizer,
                                 const prompt_settings& settings, const std::vector<std::string>& texts, bool negative) {
  c10::InferenceMode guard;
  std::vector<std::vector<token_chunk>> chunked;
  size_t chunk_count = 0;
  for (const auto& text : texts) {
    chunked.push_back(tokenize_prompt(text, tokenizer, settings.emphasis, settings.comma_padding_backtrack,
                                      settings.embeddings.get()));
    chunk_count = std::max(chunk_count, chunked.back().size());
  }
  const token_chunk blank = empty_chunk();
  const auto n = static_cast<int64_t>(texts.size());
  std::vector<at::Tensor> zs;
  at::Tensor pooled;
  for (size_t i = 0; i < chunk_count; ++i) {
    std::vector<int64_t> ids;
    std::vector<float> mult;
    // An embedding's pair: each embedder takes its own vectors (A1111's textual_inversion_key).
    std::vector<token_embedding_fix> fixes_l, fixes_g;
    for (size_t row = 0; row < chunked.size(); ++row) {
      const auto& chunks = chunked[row];
      const token_chunk& c = i < chunks.size() ? chunks[i] : blank;
      ids.insert(ids.end(), c.tokens.begin(), c.tokens.end());
      mult.insert(mult.end(), c.multipliers.begin(), c.multipliers.end());
      for (const chunk_fix& f : c.fixes) {
        fixes_l.push_back({static_cast<int64_t>(row), f.offset + 1, f.embedding->clip_l});
        fixes_g.push_back({static_cast<int64_t>(row), f.offset + 1, f.embedding->clip_g});
      }
    }
    auto tokens = at::tensor(ids, at::kLong).view({n, 77});
    auto l = clip_l.encode_sdxl(tokens, fixes_l);
    auto g = bigg.encode_sdxl(tokens, fixes_g);
    // Emphasis runs in float32 whatever the model dtype, as under A1111's autocast.
    auto hl = l.hidden.to(at::kFloat), hg = g.hidden.to(at::kFloat);
    auto m = at::tensor(mult, at::kFloat).view({n, 77, 1});
    zs.push_back(at::cat({emphasise(hl, m.to(hl.device()), settings.emphasis),
                          emphasise(hg, m.to(hg.device()), settings.emphasis).to(hl.device())},
                         -1));
    if (i == 0) pooled = g.pooled.to(hl.device());
  }
  sdxl_text_cond out{at::cat(zs, 1), pooled};
  if (negative && std::all_of(texts.begin(), texts.end(), [](const std::string& t) { return t.empty(); })) {
    out.crossattn = at::zeros_like(out.crossattn);
    out.pooled = at::zeros_like(out.pooled);
  }
  return out;
}

at::Tensor sdxl_vector(const at::Tensor& pooled, const sdxl_sizes& sizes, c10::ScalarType dtype) {
  c10::InferenceMode guard;
  const int64_t rows = pooled.size(0);
  auto opts = at::TensorOptions().dtype(at::kFloat).device(pooled.device());
  // sgm's ConcatTimestepEmbedderND: each value of original_size_as_tuple, crop_coords_top_left and
  // target_size_as_tuple embedded on its own, the embeddings side by side.
  auto values = at::tensor(std::vector<float>{static_cast<float>(sizes.height), static_cast<float>(sizes.width),
                                              static_cast<float>(sizes.crop_top), static_cast<float>(sizes.crop_left),
                                              static_cast<float>(sizes.height), static_cast<float>(sizes.width)},
                           opts)
                    .to(dtype)
                    .to(at::kFloat);
  auto emb = nn::timestep_embedding(values, sdxl_size_embedding_dim).reshape({1, -1}).expand({rows, -1});
  return at::cat({pooled.to(at::kFloat), emb}, 1);
}

} // namespace sdw
