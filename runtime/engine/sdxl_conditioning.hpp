#pragma once
/// SDXL base's conditioning as A1111 1.9.4 builds it (sd_models_xl.get_learned_conditioning over
/// sgm's GeneralConditioner): both text encoders on the same prompt chunks, their hidden states
/// side by side (crossattn), and the `y` vector of the pooled text and the image sizes.

#include "runtime/engine/conditioning.hpp"

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace sdw {

class clip_tokenizer;
class text_encoder;

/// What the text embedders give for a batch of texts.
struct sdxl_text_cond {
  at::Tensor crossattn;  ///< [texts, 77·chunks, clip_l width + bigG width], float32
  at::Tensor pooled;     ///< [texts, bigG projection_dim], float32: the first chunk's
};

/// A1111's FrozenCLIPEmbedderForSDXLWithCustomWords and FrozenOpenCLIPEmbedder2WithCustomWords on
/// `texts`: each text is chunked once (emphasis, BREAK, comma padding as for SD1); every chunk goes
/// through CLIP ViT-L (hidden_states[11], no final norm) and OpenCLIP bigG (penultimate layer),
/// each re-weighted by the emphasis multipliers on its own, and the two are concatenated on the
/// feature axis. The pooled vector is bigG's for the first chunk. CLIP skip does not apply (A1111's
/// sdxl_clip_l_skip is off). `negative` with every text empty gives zeros for both (A1111's
/// force_zero_negative_prompt). Textual-inversion embeddings are not applied.
sdxl_text_cond encode_sdxl_texts(const text_encoder& clip_l, const text_encoder& bigg, const clip_tokenizer& tokenizer,
                                 const prompt_settings& settings, const std::vector<std::string>& texts, bool negative);

/// sgm's vector conditioning: [pooled, emb(original height), emb(original width), emb(crop top),
/// emb(crop left), emb(target height), emb(target width)], each emb a 256-wide sinusoidal
/// timestep embedding; A1111 passes the job's size as both original and target size. The sizes
/// are first rounded to `dtype` (A1111 builds them in the model dtype). [rows, projection_dim + 1536], float32.
at::Tensor sdxl_vector(const at::Tensor& pooled, const sdxl_sizes& sizes, c10::ScalarType dtype);

} // namespace sdw
