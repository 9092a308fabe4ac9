#pragma once
/// The checkpoints a worker can run, named as A1111 names them (titles, short names, hashes) and
/// found by any of those names, as A1111's sd_models.py finds them.

#include "runtime/catalog/model_folders.hpp"

#include <string>
#include <vector>

namespace sdw {

/// One checkpoint file, as A1111's CheckpointInfo describes it.
struct checkpoint_info {
  std::string path;         ///< canonical path of the file
  std::string name;         ///< path below the checkpoint folder ("sub/x.safetensors"), else the file name
  std::string stem;         ///< the file name without extension (A1111's name_for_extra, "Model" in infotext)
  std::string model_name;   ///< `name` with separators as '_' and no extension
  std::string legacy_hash;  ///< A1111's old 8-character hash
  std::string sha256;       ///< empty until the file has been hashed (at its first load)
  std::string config;       ///< the `.yaml` beside the file, else empty

  /// The first 10 hex digits of sha256, empty while unknown.
  std::string short_hash() const;
  /// "name [short hash]", or just the name while the hash is unknown.
  std::string title() const;
  /// "stem [short hash]", or just the stem while the hash is unknown (A1111's short_title: the
  /// "Hires checkpoint" of the infotext).
  std::string short_title() const;
  /// Every name that selects this checkpoint exactly: old hash, model name, title, name, stem,
  /// "name [old hash]", and once hashed the short hash, sha256, "name [short]", "stem [short]".
  std::vector<std::string> aliases() const;
};

/// The checkpoints of a models folder: `<root>/Stable-diffusion/**.safetensors` and `**.ckpt` (not
/// `*.vae.safetensors` or `*.vae.ckpt`), the `.safetensors` and `.ckpt` files directly in the root, and the checkpoint the
/// worker was started with wherever it is. Sorted by name, as A1111 lists them.
class checkpoint_catalog {
public:
  checkpoint_catalog() = default;
  checkpoint_catalog(model_folders folders, std::string startup_checkpoint);

  /// Reads the folders again (A1111's refresh-checkpoints); hashes already known are kept.
  void rescan();

  const std::vector<checkpoint_info>& list() const noexcept { return list_; }

  /// The checkpoint the worker starts with and runs when a job names none: the one given at
  /// start, else the first listed. Null when there is none.
  const checkpoint_info* startup() const;

  /// The checkpoint one of whose aliases is `name` exactly (what A1111 accepts for the
  /// `sd_model_checkpoint` option), or null.
  const checkpoint_info* find_exact(const std::string& name) const;

  /// A1111's get_closet_checkpoint_match (what it uses for `hr_checkpoint_name`): an exact alias; else the shortest title containing
  /// `search`; else the same with a trailing " [hash]" removed from `search`. Null when none.
  const checkpoint_info* find(const std::string& search) const;

  /// The checkpoint at `path` (compared as canonical paths), or null.
  const checkpoint_info* at_path(const std::string& path) const;

  /// Takes up hashes computed since the scan (a model's load caches its file's hash), so that
  /// titles and hash aliases appear as soon as they are known.
  void refresh_hashes();

  /// Records a hash computed elsewhere (the model's load), so titles and aliases use it.
  void learn_sha256(const std::string& path, const std::string& sha256);

private:
  model_folders folders_;
  std::string startup_path_;
  std::vector<checkpoint_info> list_;
};

/// A1111's CheckpointInfo for the file at canonical `path`, listed as `name`.
checkpoint_info describe_checkpoint(const std::string& path, const std::string& name);

} // namespace sdw
