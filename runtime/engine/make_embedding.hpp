#pragma once
/// Random textual-inversion embeddings, for tests and for trying the embeddings folder without a
/// trained one.

#include <cstdint>
#include <string>

namespace sdw {

/// Writes a `.safetensors` embedding: one float32 tensor `emb_params` [vectors, width] (the layout
/// A1111 reads as a one-tensor dict) of normal values with standard deviation 0.02, about the size
/// of CLIP's token embeddings; `{"name": file stem}` metadata is not written (A1111 names an
/// embedding by its file). The same arguments always give the same bytes. Throws
/// error(bad_request) for vectors outside 1..75 or a width < 1.
void make_embedding(std::int64_t width, int vectors, std::uint64_t seed, const std::string& out_path);

/// Writes an SDXL embedding as A1111 reads it: float32 `clip_l` [vectors, width_l] and `clip_g`
/// [vectors, width_g], drawn as make_embedding draws (clip_l first). Errors as make_embedding.
void make_sdxl_embedding(std::int64_t width_l, std::int64_t width_g, int vectors, std::uint64_t seed,
                         const std::string& out_path);

} // namespace sdw
