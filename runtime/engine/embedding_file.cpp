#include "runtime/engine/embedding_file.hpp"

#include "runtime/base/encoding.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/engine/safetensors.hpp"
#include "runtime/engine/torch_file.hpp"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <vector>

namespace sdw {
namespace {

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

at::ScalarType scalar_type(st_dtype d) {
  switch (d) {
    case st_dtype::f64: return at::kDouble;
    case st_dtype::f32: return at::kFloat;
    case st_dtype::f16: return at::kHalf;
    case st_dtype::bf16: return at::kBFloat16;
    case st_dtype::i64: return at::kLong;
    case st_dtype::i32: return at::kInt;
    case st_dtype::i16: return at::kShort;
    case st_dtype::i8: return at::kChar;
    case st_dtype::u8: return at::kByte;
    case st_dtype::boolean: return at::kBool;
  }
  return at::kFloat;
}

std::map<std::string, at::Tensor> safetensors_values(const std::string& path) {
  auto file = safetensors_file::open(path);
  std::map<std::string, at::Tensor> out;
  for (const st_tensor& t : file->tensors()) {
    out[t.name] = at::from_blob(const_cast<uint8_t*>(t.data), t.shape, at::TensorOptions().dtype(scalar_type(t.dtype)))
                    .clone();
  }
  return out;
}

std::optional<std::string> text_value(const std::map<std::string, embedding_scalar>& scalars, const std::string& key) {
  auto it = scalars.find(key);
  if (it == scalars.end()) return std::nullopt;
  if (const auto* s = std::get_if<std::string>(&it->second)) return *s;
  return std::nullopt;
}

std::optional<std::int64_t> int_value(const std::map<std::string, embedding_scalar>& scalars, const std::string& key) {
  auto it = scalars.find(key);
  if (it == scalars.end()) return std::nullopt;
  if (const auto* i = std::get_if<std::int64_t>(&it->second)) return *i;
  return std::nullopt;
}

bool has_prefix(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

} // namespace

text_embedding embedding_from_values(const std::string& file, const std::map<std::string, at::Tensor>& tensors,
                                     const std::map<std::string, embedding_scalar>& scalars) {
  text_embedding e;
  auto key_under = [&](const std::string& prefix) {
    for (const auto& [k, v] : tensors) {
      if (has_prefix(k, prefix)) return true;
    }
    for (const auto& [k, v] : scalars) {
      if (has_prefix(k, prefix)) return true;
    }
    return false;
  };
  if (key_under("string_to_param.")) {
    std::vector<at::Tensor> params;
    for (const auto& [k, v] : tensors) {
      if (has_prefix(k, "string_to_param.")) params.push_back(v);
    }
    if (params.size() != 1) {
      throw error(errc::bad_checkpoint, file, "embedding file has multiple terms in it");
    }
    if (params[0].dim() != 2) {
      throw error(errc::bad_checkpoint, file, "the embedding's vectors are not a [vectors, width] tensor");
    }
    e.vec = params[0].to(at::kFloat).contiguous();
    e.shape = e.vec.size(-1);
    e.vectors = e.vec.size(0);
  } else if (tensors.count("clip_g") != 0 && tensors.count("clip_l") != 0) {
    // SDXL: both text encoders' vectors; SD1 models never take them (the widths add up to 2048).
    const at::Tensor& g = tensors.at("clip_g");
    const at::Tensor& l = tensors.at("clip_l");
    if (g.dim() != 2 || l.dim() != 2) {
      throw error(errc::bad_checkpoint, file, "the embedding's clip_g and clip_l are not [vectors, width] tensors");
    }
    e.clip_g = g.to(at::kFloat).contiguous();
    e.clip_l = l.to(at::kFloat).contiguous();
    e.shape = g.size(-1) + l.size(-1);
    e.vectors = g.size(0);
  } else if (tensors.size() == 1 && scalars.empty() && tensors.count("") == 0) {
    // diffusers' learned_embeds.bin ({token: tensor}) and safetensors' {"emb_params": tensor}.
    at::Tensor emb = tensors.begin()->second;
    if (emb.dim() == 1) emb = emb.unsqueeze(0);
    if (emb.dim() != 2) {
      throw error(errc::bad_checkpoint, file, "the embedding's vectors are not a [vectors, width] tensor");
    }
    e.vec = emb.to(at::kFloat).contiguous();
    e.shape = e.vec.size(-1);
    e.vectors = e.vec.size(0);
  } else if (tensors.size() > 1 && scalars.empty()) {
    throw error(errc::bad_checkpoint, file, "embedding file has multiple terms in it");
  } else {
    throw error(errc::bad_checkpoint, file,
                "Couldn't identify " + std::filesystem::path(file).filename().string() +
                  " as neither textual inversion embedding nor diffuser concept.");
  }
  e.step = int_value(scalars, "step");
  e.sd_checkpoint = text_value(scalars, "sd_checkpoint");
  e.sd_checkpoint_name = text_value(scalars, "sd_checkpoint_name");
  return e;
}

std::optional<text_embedding> read_embedding_file(const std::string& path) {
  const std::filesystem::path p(path);
  const std::string filename = p.filename().string();
  const std::string name = p.stem().string();
  const std::string ext = upper(p.extension().string());
  text_embedding e;
  if (ext == ".PNG" || ext == ".WEBP" || ext == ".JXL" || ext == ".AVIF") {
    if (upper(std::filesystem::path(name).extension().string()) != ".PREVIEW") {
      spdlog::info("Embedding {}: embeddings stored in images are not supported; skipped", path);
    }
    return std::nullopt;
  }
  if (ext == ".SAFETENSORS") {
    e = embedding_from_values(path, safetensors_values(path), {});
  } else if (ext == ".PT" || ext == ".BIN") {
    // A pickle: read by the restricted reader, which runs nothing from the file.
    const torch_file data = read_torch_file(path);
    e = embedding_from_values(path, data.tensors, data.scalars);
  } else {
    return std::nullopt;
  }
  e.name = name;
  e.path = path;
  e.hash = sha256_file_hex(path);
  e.short_hash = e.hash.substr(0, 12);
  return e;
}

} // namespace sdw
