#include "runtime/engine/torch_checkpoint.hpp"

#include "runtime/engine/sd1_layout.hpp"
#include "runtime/engine/torch_file.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <optional>
#include <set>
#include <vector>

namespace sdw {
namespace {

bool has_suffix(const std::string& s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[s.size() - suffix.size() + i])) != suffix[i]) return false;
  }
  return true;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

std::optional<st_dtype> st_dtype_of(at::ScalarType t) {
  switch (t) {
    case at::kDouble: return st_dtype::f64;
    case at::kFloat: return st_dtype::f32;
    case at::kHalf: return st_dtype::f16;
    case at::kBFloat16: return st_dtype::bf16;
    case at::kLong: return st_dtype::i64;
    case at::kInt: return st_dtype::i32;
    case at::kShort: return st_dtype::i16;
    case at::kChar: return st_dtype::i8;
    case at::kByte: return st_dtype::u8;
    case at::kBool: return st_dtype::boolean;
    default: return std::nullopt;  // complex and other types never hold model weights
  }
}

/// The key a tensor is loaded under, after A1111's renames; empty when it is dropped.
using key_filter = std::string (*)(const std::string&);

std::string checkpoint_key(const std::string& key) { return sd1_canonical_key(key); }

std::string vae_key(const std::string& key) {
  if (starts_with(key, "loss") || key == "model_ema.decay" || key == "model_ema.num_updates") return {};
  return sd1_canonical_key(key);
}

/// Renames (and drops) entries; a name already in use under its current form wins over a renamed one.
std::vector<st_tensor> renamed(std::vector<st_tensor> in, key_filter filter) {
  std::set<std::string> present;
  for (const st_tensor& t : in) present.insert(t.name);
  std::vector<st_tensor> out;
  out.reserve(in.size());
  for (st_tensor& t : in) {
    std::string key = filter(t.name);
    if (key.empty() || (key != t.name && present.count(key))) continue;
    t.name = std::move(key);
    out.push_back(std::move(t));
  }
  return out;
}

std::shared_ptr<const safetensors_file> open_safetensors(const std::string& path, key_filter filter) {
  std::shared_ptr<const safetensors_file> file = safetensors_file::open(path);
  std::vector<st_tensor> tensors = renamed(file->tensors(), filter);
  if (tensors.size() == file->tensors().size() &&
      std::equal(tensors.begin(), tensors.end(), file->tensors().begin(),
                 [](const st_tensor& a, const st_tensor& b) { return a.name == b.name; })) {
    return file;
  }
  // The renamed entries point into the mapping, which the view keeps alive.
  const uint64_t size = file->file_size();
  return safetensors_file::from_memory(path, size, std::move(tensors), file);
}

std::shared_ptr<const safetensors_file> open_torch(const std::string& path, key_filter filter) {
  torch_file read = read_torch_file(path);
  read.scalars.clear();
  // A1111: pl_sd.pop("state_dict", pl_sd), then a nested "state_dict" is dropped.
  static constexpr std::string_view wrapper = "state_dict.";
  const bool wrapped = std::any_of(read.tensors.begin(), read.tensors.end(),
                                   [](const auto& kv) { return starts_with(kv.first, wrapper); });
  // The tensors move into the holder that the view keeps alive: the file's data is held once.
  auto holder = std::make_shared<std::vector<at::Tensor>>();
  holder->reserve(read.tensors.size());
  std::vector<st_tensor> entries;
  for (auto it = read.tensors.begin(); it != read.tensors.end(); it = read.tensors.erase(it)) {
    std::string key = it->first;
    if (wrapped) {
      if (!starts_with(key, wrapper)) continue;
      key.erase(0, wrapper.size());
    }
    if (starts_with(key, wrapper)) continue;
    const auto dtype = st_dtype_of(it->second.scalar_type());
    if (!dtype) continue;
    at::Tensor t = it->second.contiguous();
    st_tensor e;
    e.name = std::move(key);
    e.dtype = *dtype;
    e.shape.assign(t.sizes().begin(), t.sizes().end());
    e.nbytes = t.nbytes();
    e.data = t.nbytes() ? static_cast<const uint8_t*>(t.data_ptr()) : nullptr;
    entries.push_back(std::move(e));
    holder->push_back(std::move(t));
  }
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  return safetensors_file::from_memory(path, ec ? 0 : size, renamed(std::move(entries), filter), holder);
}

std::shared_ptr<const safetensors_file> open_weights(const std::string& path, key_filter filter) {
  // A1111 reads .safetensors with the safetensors library and the pickle files with torch.load; any
  // other name is tried as safetensors, whose reader explains a pickle found there.
  for (const char* ext : {".ckpt", ".pt", ".pth", ".bin"}) {
    if (has_suffix(path, ext)) return open_torch(path, filter);
  }
  return open_safetensors(path, filter);
}

} // namespace

std::shared_ptr<const safetensors_file> open_checkpoint_weights(const std::string& path) {
  return open_weights(path, checkpoint_key);
}

std::shared_ptr<const safetensors_file> open_vae_weights(const std::string& path) {
  return open_weights(path, vae_key);
}

} // namespace sdw
