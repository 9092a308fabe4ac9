#pragma once
/// The Lora folder: `*.safetensors` files found by name (the file name without its extension,
/// in the folder or below it, or the alias its metadata gives: lora_catalog.hpp), read for the model a job runs (a file's modules are matched to
/// that model's layers; SD1, SD2 and SDXL each have their own) and kept while the file is
/// unchanged. No name reaches a file outside the folder. Not thread-safe (the executor that runs
/// the models is its only user).

#include "runtime/engine/lora_file.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sdw {

/// Whether a LoRA name may name a file at all: not empty, not "." or "..", no '/', '\\' or NUL.
bool is_safe_lora_name(const std::string& name);

class lora_library {
public:
  /// `dir` may be missing (then every name is unknown).
  explicit lora_library(std::string dir);

  /// The file a name stands for, or nothing: an unsafe name, no such file, or a file whose real
  /// path (symlinks resolved) is outside the folder. The folder is scanned again on a miss, as
  /// A1111 rescans before giving up on a name.
  std::optional<std::string> find(const std::string& name);

  /// The network of a file found by find() for a model of `config`, read on first use and again
  /// when the file changes.
  std::shared_ptr<const lora_network> network(const std::string& path, const model_config& config);

  /// lora_short_hash of a file found by find(), computed once per file version.
  std::string short_hash(const std::string& path);

  const std::string& dir() const noexcept { return dir_; }

private:
  struct entry {
    std::filesystem::file_time_type mtime{};
    uintmax_t size = 0;
    std::map<const void*, std::shared_ptr<const lora_network>> networks;  ///< by layouts_ entry
    std::string hash;
  };
  using layer_map = std::map<std::string, lora_layer>;
  void scan();
  entry& current(const std::string& path);
  const layer_map& layers_for(const model_config& config);

  std::string dir_;
  std::vector<std::pair<model_config, std::unique_ptr<const layer_map>>> layouts_;  ///< lora_layers of each config seen
  std::map<std::string, std::string> by_name_;  ///< name → path, from the last scan
  std::map<std::string, entry> files_;          ///< path → what was read from it
};

} // namespace sdw
