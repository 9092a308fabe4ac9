#include "runtime/catalog/vae_catalog.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/catalog/natural_order.hpp"

#include <algorithm>
#include <cctype>

namespace sdw {

namespace fs = std::filesystem;

std::vector<vae_info> scan_vaes(const model_folders& folders) {
  std::vector<vae_info> out;
  const auto add = [&](const found_file& f) {
    const std::string name = f.real.filename().string();
    if (std::none_of(out.begin(), out.end(), [&](const vae_info& v) { return v.name == name; })) {
      out.push_back({name, f.real.string()});
    }
  };
  // A1111's refresh_vae_list: **/*.vae.ckpt, **/*.vae.pt, **/*.vae.safetensors beside the checkpoints,
  // **/*.ckpt, **/*.pt, **/*.safetensors in the VAE folder.
  for (const found_file& f : files_inside(folders.checkpoints(), {".vae.ckpt", ".vae.pt", ".vae.safetensors"})) {
    add(f);
  }
  for (const found_file& f : files_inside(folders.vae(), {".ckpt", ".pt", ".safetensors"})) {
    add(f);
  }
  std::stable_sort(out.begin(), out.end(), [](const vae_info& a, const vae_info& b) { return natural_less(a.name, b.name); });
  return out;
}

std::optional<vae_info> resolve_vae(const std::vector<vae_info>& vaes, const std::string& checkpoint_path,
                                    const std::string& sd_vae, bool overrides_per_model) {
  const auto named = std::find_if(vaes.begin(), vaes.end(), [&](const vae_info& v) { return v.name == sd_vae; });
  if (sd_vae != "Automatic" && sd_vae != "None" && named == vaes.end()) {
    std::string known;
    for (const auto& v : vaes) {
      known += (known.empty() ? "" : ", ") + v.name;
    }
    throw error(errc::bad_request, "sd_vae",
                "VAE '" + sd_vae + "' not found (use \"Automatic\", \"None\"" + (known.empty() ? "" : " or one of: " + known) + ")");
  }
  if (overrides_per_model && sd_vae == "None") {
    return std::nullopt;
  }
  if (overrides_per_model && named != vaes.end()) {
    return *named;
  }
  // A1111's find_vae_near_checkpoint: the checkpoint's file name up to its last dot.
  const std::string file = fs::path(checkpoint_path).filename().string();
  const std::string stem = file.substr(0, file.rfind('.'));
  for (const auto& v : vaes) {
    if (v.name.rfind(stem, 0) == 0) {
      return v;
    }
  }
  if (named != vaes.end()) {
    return *named;
  }
  return std::nullopt;
}

} // namespace sdw
