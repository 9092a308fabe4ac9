#pragma once
/// The models folder as A1111 lays it out under one root (`Stable-diffusion/`, `VAE/`, `Lora/`,
/// `ESRGAN/`, `embeddings/`), and the one way files are found in it: a walk that never leaves
/// the folder it starts in, whatever links the folder holds.

#include <filesystem>
#include <string>
#include <vector>

namespace sdw {

/// The subfolders of a models root, named as A1111 names them.
struct model_folders {
  std::filesystem::path root = "models";

  std::filesystem::path checkpoints() const { return root / "Stable-diffusion"; }
  std::filesystem::path vae() const { return root / "VAE"; }
  std::filesystem::path lora() const { return root / "Lora"; }
  std::filesystem::path esrgan() const { return root / "ESRGAN"; }
  std::filesystem::path embeddings() const { return root / "embeddings"; }
};

/// Whether `p` is `root` or below it, compared part by part (both already canonical).
bool path_inside(const std::filesystem::path& root, const std::filesystem::path& p);

/// A file found in a folder: where it really is, and its path below the folder as listed there.
struct found_file {
  std::filesystem::path real;  ///< canonical
  std::string relative;        ///< "sub/name.safetensors", '/'-separated
};

/// The regular files under `folder` whose names end with one of `suffixes` (compared without
/// case, e.g. ".safetensors"), sorted by their path relative to the folder.
/// Directory links are followed (as os.walk(followlinks=True)) but only to folders inside, each
/// once; a file whose real path leads outside is skipped. `recursive` false: the folder's own
/// files only. A folder that does not exist gives nothing.
std::vector<found_file> files_inside(const std::filesystem::path& folder,
                                                const std::vector<std::string>& suffixes, bool recursive = true);

/// Whether `name` ends with `suffix`, ignoring ASCII case.
bool ends_with_nocase(const std::string& name, const std::string& suffix);

} // namespace sdw
