#pragma once
/// Synthetic LoRA and LoCon files with random weights in the kohya-ss key layout, for every
/// make-model preset (SDXL's UNet under its CompVis names and its encoders as lora_te1/lora_te2,
/// as kohya names them): what tests and smoke tests put in a Lora folder.

#include "runtime/engine/make_model.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace sdw {

/// What a file holds. `lora`: the UNet's attention projections (to_q, to_k, to_v, to_out_0),
/// proj_in/proj_out and feed-forward layers plus the text encoder's q/k/v/out_proj and
/// mlp_fc1/fc2 (OpenCLIP's q/k/v thirds of in_proj, out_proj, c_fc and c_proj), as `lora_down` / `lora_up`; `locon` those and the convolutions (resnet
/// conv1/conv2 and shortcuts, down- and upsamplers) with 4-D lora_down [rank, in, kh, kw] and
/// lora_up [out, rank, 1, 1]. The LyCORIS kinds cover the layers of `locon`: `loha` as
/// `hada_w1_a` [out, rank], `hada_w1_b` [rank, in·kh·kw] and the same for w2, with Tucker cores
/// `hada_t1`/`hada_t2` [rank, rank, kh, kw] (then `hada_w*_a` [rank, out], `hada_w*_b` [rank,
/// in]) for kernels larger than 1x1; `lokr` as the Kronecker factors of LyCORIS's factorization
/// (out = out_l·out_k, in = in_m·in_n), cycling through the forms layer by layer: `lokr_w1`
/// [out_l, in_m] and `lokr_w2` [out_k, in_n(, kh, kw)]; `lokr_w1` and `lokr_w2_a` [out_k, rank],
/// `lokr_w2_b` [rank, in_n·kh·kw] (a Tucker `lokr_t2` [rank, rank, kh, kw] with `lokr_w2_a`
/// [rank, out_k], `lokr_w2_b` [rank, in_n] for larger kernels); `lokr_w1_a` [out_l, rank],
/// `lokr_w1_b` [rank, in_m] and `lokr_w2`; both factored, w1 with rank + 1 (the second factor's
/// rank is the one alpha is divided by); `full` as `diff` (the weight's
/// shape) and `diff_b` where the layer has a bias; `norm` the GroupNorm and LayerNorm layers as
/// `w_norm` and `b_norm`.
enum class lora_kind { lora, locon, loha, lokr, full, norm };

/// "lora", "locon", "loha", "lokr", "full", "norm".
const char* to_string(lora_kind kind);

/// The kind a name stands for, or nothing.
std::optional<lora_kind> parse_lora_kind(const std::string& name);

/// Writes a file for `preset`: per layer its tensors under the kohya name (kohya_name_for),
/// `.alpha` = rank / 2 for the factored kinds (so alpha / rank is 0.5; a LoKr whose factors are
/// both full has no rank and keeps scale 1), random values that change the weights by about a
/// third of their size, in `dtype` (f16 or f32; alpha always f32); kohya's metadata
/// (ss_network_module, ss_network_dim, ss_network_alpha, ss_network_args with the LyCORIS algo)
/// and the preset and seed. The same arguments always give the same bytes. Throws
/// error(bad_request) for a rank < 1 or another dtype.
void make_lora(model_preset preset, lora_kind kind, int rank, st_dtype dtype, uint64_t seed,
               const std::string& out_path);

} // namespace sdw
