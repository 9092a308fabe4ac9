#pragma once
/// One textual-inversion embedding file read as A1111 1.9.4's EmbeddingDatabase.load_from_file reads
/// it: `.safetensors`, or `.pt` / `.bin` (torch.save files, through the restricted torch_file reader),
/// in A1111's `string_to_param` layout, diffusers' single `{token: tensor}` (safetensors `emb_params`
/// too), or SDXL's `{clip_g, clip_l}` pair.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>

namespace sdw {

/// A plain value stored beside a file's tensors (the torch_file reader's torch_scalar).
using embedding_scalar = std::variant<std::monostate, bool, std::int64_t, double, std::string>;

/// An embedding as A1111's Embedding object describes it.
struct text_embedding {
  std::string name;  ///< the file name without its last extension
  std::string path;
  at::Tensor vec;    ///< [vectors, shape] float32 on the CPU; undefined for an SDXL pair
  at::Tensor clip_l;  ///< an SDXL pair: the CLIP ViT-L vectors [n, 768], float32 on the CPU
  at::Tensor clip_g;  ///< …and the OpenCLIP bigG ones [vectors, 1280]
  std::optional<std::int64_t> step;
  std::optional<std::string> sd_checkpoint;
  std::optional<std::string> sd_checkpoint_name;
  std::int64_t shape = 0;    ///< width of a vector (SDXL: clip_g's plus clip_l's)
  std::int64_t vectors = 0;  ///< how many token positions it takes
  std::string hash;          ///< sha256 of the whole file, lower-case hex
  std::string short_hash;    ///< its first 12 characters ("TI hashes")
};

/// The embedding a file's flattened contents hold (nested keys joined with '.', as torch_file
/// flattens them), by A1111's rules: `string_to_param.*` with exactly one tensor; else `clip_g`
/// and `clip_l`; else a dict of exactly one tensor (a 1-D tensor is one vector). `step`,
/// `sd_checkpoint` and `sd_checkpoint_name` come from the top-level values. Throws
/// error(bad_checkpoint, file) when the layout is none of these.
text_embedding embedding_from_values(const std::string& file, const std::map<std::string, at::Tensor>& tensors,
                                     const std::map<std::string, embedding_scalar>& scalars);

/// What reading one file of the embeddings folder gives: an embedding, or nothing for a file
/// A1111 passes over (another extension; `.preview.png`; an image, which sdworker does not read).
/// Throws sdw::error naming the file for a damaged file or an unknown layout.
std::optional<text_embedding> read_embedding_file(const std::string& path);

} // namespace sdw
