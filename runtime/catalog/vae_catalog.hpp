#pragma once
/// The VAE files a checkpoint can run with, and which one a job gets, as A1111's sd_vae.py
/// chooses: the `sd_vae` option ("Automatic", "None" or a file name), else a VAE named like the
/// checkpoint, else the checkpoint's own.

#include "runtime/catalog/model_folders.hpp"

#include <optional>
#include <string>
#include <vector>

namespace sdw {

/// One VAE file: A1111 names it by its file name with extension.
struct vae_info {
  std::string name;  ///< "vae-ft-mse.safetensors"
  std::string path;  ///< canonical
};

/// `<root>/VAE/**.safetensors|.ckpt|.pt` and `<root>/Stable-diffusion/**.vae.safetensors|.vae.ckpt|.vae.pt`,
/// in A1111's
/// natural order of names (digits compared as numbers, letters without case); the first file of
/// a name wins.
std::vector<vae_info> scan_vaes(const model_folders& folders);

/// The VAE a job runs `checkpoint_path` with, or none for the checkpoint's own: `sd_vae` "None"
/// → none; a listed name → that file (when `overrides_per_model` is on, as by default);
/// "Automatic" → the first listed VAE whose file name starts with the checkpoint's file stem
/// (A1111's "found near the checkpoint"), else none. Another name → sdw::error(bad_request,
/// "sd_vae", ...) naming it (A1111 would silently use none).
std::optional<vae_info> resolve_vae(const std::vector<vae_info>& vaes, const std::string& checkpoint_path,
                                    const std::string& sd_vae, bool overrides_per_model = true);

} // namespace sdw
