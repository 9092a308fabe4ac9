#include "runtime/catalog/vae_catalog.hpp"

#include "runtime/base/errors.hpp"

#include <algorithm>
#include <cctype>

namespace sdw {

namespace fs = std::filesystem;

namespace {

/// A1111's natural sort key: runs of digits as numbers, other text lower-cased.
bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const bool da = std::isdigit(static_cast<unsigned char>(a[i])) != 0;
    const bool db = std::isdigit(static_cast<unsigned char>(b[j])) != 0;
    if (da && db) {
      size_t ie = i, je = j;
      while (ie < a.size() && std::isdigit(static_cast<unsigned char>(a[ie]))) ++ie;
      while (je < b.size() && std::isdigit(static_cast<unsigned char>(b[je]))) ++je;
      std::string na = a.substr(i, ie - i), nb = b.substr(j, je - j);
      na.erase(0, std::min(na.find_first_not_of('0'), na.size()));
      nb.erase(0, std::min(nb.find_first_not_of('0'), nb.size()));
      if (na.size() != nb.size()) return na.size() < nb.size();
      if (na != nb) return na < nb;
      i = ie;
      j = je;
      continue;
    }
    if (da != db) {
      return da;  // Python compares int < str would fail; A1111's keys put numbers first in practice
    }
    const char ca = static_cast<char>(std::tolower(static_cast<unsigned char>(a[i])));
    const char cb = static_cast<char>(std::tolower(static_cast<unsigned char>(b[j])));
    if (ca != cb) return ca < cb;
    ++i;
    ++j;
  }
  return a.size() - i < b.size() - j;
}

} // namespace

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
