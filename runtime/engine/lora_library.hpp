#pragma once
/// The Lora folder: `*.safetensors` files found by name (the file name without its extension,
/// in the folder or below it), read for one model and kept while the file is unchanged.
/// No name reaches a file outside the folder. One per model; not thread-safe (the executor that
/// runs the model is its only user).

#include "runtime/engine/lora_file.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace sdw {

/// Whether a LoRA name may name a file at all: not empty, not "." or "..", no '/', '\\' or NUL.
bool is_safe_lora_name(const std::string& name);

class lora_library {
public:
  /// `dir` may be missing (then every name is unknown); `layers` are the model's (lora_layers).
  lora_library(std::string dir, std::map<std::string, lora_layer> layers);

  /// The file a name stands for, or nothing: an unsafe name, no such file, or a file whose real
  /// path (symlinks resolved) is outside the folder. The folder is scanned again on a miss, as
  /// A1111 rescans before giving up on a name.
  std::optional<std::string> find(const std::string& name);

  /// The network of a file found by find(), read on first use and again when the file changes.
  std::shared_ptr<const lora_network> network(const std::string& path);

  /// lora_short_hash of a file found by find(), computed once per file version.
  std::string short_hash(const std::string& path);

  const std::string& dir() const noexcept { return dir_; }

private:
  struct entry {
    std::filesystem::file_time_type mtime{};
    uintmax_t size = 0;
    std::shared_ptr<const lora_network> network;
    std::string hash;
  };
  void scan();
  entry& current(const std::string& path);

  std::string dir_;
  std::map<std::string, lora_layer> layers_;
  std::map<std::string, std::string> by_name_;  ///< name → path, from the last scan
  std::map<std::string, entry> files_;          ///< path → what was read from it
};

} // namespace sdw
