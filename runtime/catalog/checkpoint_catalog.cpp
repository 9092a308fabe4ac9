#include "runtime/catalog/checkpoint_catalog.hpp"

#include "runtime/catalog/file_hash.hpp"

#include <algorithm>
#include <cctype>
#include <regex>
#include <system_error>

namespace sdw {

namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string without_extension(const std::string& name) {
  const auto dot = name.rfind('.');
  const auto slash = name.find_last_of("/\\");
  return dot == std::string::npos || (slash != std::string::npos && dot < slash) ? name : name.substr(0, dot);
}

std::string canonical_or_same(const std::string& path) {
  std::error_code ec;
  const fs::path c = fs::canonical(path, ec);
  return ec ? path : c.string();
}

const checkpoint_info* shortest_title_containing(const std::vector<checkpoint_info>& list, const std::string& text) {
  const checkpoint_info* best = nullptr;
  for (const auto& c : list) {
    const std::string title = c.title();
    if (title.find(text) != std::string::npos && (best == nullptr || title.size() < best->title().size())) {
      best = &c;
    }
  }
  return best;
}

} // namespace

std::string checkpoint_info::short_hash() const { return sha256.size() >= 10 ? sha256.substr(0, 10) : ""; }

std::string checkpoint_info::title() const {
  const std::string h = short_hash();
  return h.empty() ? name : name + " [" + h + "]";
}

std::string checkpoint_info::short_title() const {
  const std::string h = short_hash();
  return h.empty() ? stem : stem + " [" + h + "]";
}

std::vector<std::string> checkpoint_info::aliases() const {
  std::vector<std::string> ids = {legacy_hash, model_name, title(), name, stem, name + " [" + legacy_hash + "]"};
  if (const std::string h = short_hash(); !h.empty()) {
    ids.insert(ids.end(), {h, sha256, name + " [" + h + "]", stem + " [" + h + "]"});
  }
  return ids;
}

checkpoint_info describe_checkpoint(const std::string& path, const std::string& name) {
  checkpoint_info c;
  c.path = path;
  c.name = name;
  c.stem = without_extension(fs::path(name).filename().string());
  std::string flat = name;
  std::replace(flat.begin(), flat.end(), '/', '_');
  std::replace(flat.begin(), flat.end(), '\\', '_');
  c.model_name = without_extension(flat);
  c.legacy_hash = legacy_model_hash(path);
  c.sha256 = known_file_sha256(path);
  std::error_code ec;
  if (const fs::path yaml = fs::path(path).replace_extension(".yaml"); fs::is_regular_file(yaml, ec)) {
    c.config = yaml.string();
  }
  return c;
}

checkpoint_catalog::checkpoint_catalog(model_folders folders, std::string startup_checkpoint)
  : folders_(std::move(folders)), startup_path_(std::move(startup_checkpoint)) {
  rescan();
}

void checkpoint_catalog::rescan() {
  std::vector<checkpoint_info> fresh;
  const auto add = [&](const std::string& real, const std::string& name) {
    if (std::any_of(fresh.begin(), fresh.end(), [&](const checkpoint_info& c) { return c.path == real; })) {
      return;  // reached twice (a link inside the folder, or the startup file is also listed)
    }
    try {
      checkpoint_info c = describe_checkpoint(real, name);
      if (c.sha256.empty()) {
        if (const checkpoint_info* old = at_path(real)) {
          c.sha256 = old->sha256;
        }
      }
      fresh.push_back(std::move(c));
    } catch (const std::exception&) {
      // A file that vanished or cannot be read between the listing and here is not listed.
    }
  };
  // A1111: ext_filter [".ckpt", ".safetensors"], ext_blacklist [".vae.ckpt", ".vae.safetensors"].
  for (const found_file& f : files_inside(folders_.checkpoints(), {".ckpt", ".safetensors"})) {
    if (!ends_with_nocase(f.relative, ".vae.safetensors") && !ends_with_nocase(f.relative, ".vae.ckpt")) {
      add(f.real.string(), f.relative);
    }
  }
  for (const found_file& f : files_inside(folders_.root, {".ckpt", ".safetensors"}, false)) {
    add(f.real.string(), f.relative);
  }
  if (!startup_path_.empty()) {
    std::error_code ec;
    if (fs::is_regular_file(startup_path_, ec)) {
      add(canonical_or_same(startup_path_), fs::path(startup_path_).filename().string());
    }
  }
  std::stable_sort(fresh.begin(), fresh.end(),
                   [](const checkpoint_info& a, const checkpoint_info& b) { return lower(a.name) < lower(b.name); });
  list_ = std::move(fresh);
}

const checkpoint_info* checkpoint_catalog::startup() const {
  if (!startup_path_.empty()) {
    return at_path(startup_path_);
  }
  return list_.empty() ? nullptr : &list_.front();
}

const checkpoint_info* checkpoint_catalog::at_path(const std::string& path) const {
  const std::string real = canonical_or_same(path);
  for (const auto& c : list_) {
    if (c.path == real) {
      return &c;
    }
  }
  return nullptr;
}

const checkpoint_info* checkpoint_catalog::find_exact(const std::string& name) const {
  for (const auto& c : list_) {
    const auto ids = c.aliases();
    if (std::find(ids.begin(), ids.end(), name) != ids.end()) {
      return &c;
    }
  }
  return nullptr;
}

const checkpoint_info* checkpoint_catalog::find(const std::string& search) const {
  if (search.empty()) {
    return nullptr;
  }
  if (const checkpoint_info* c = find_exact(search)) {
    return c;
  }
  if (const checkpoint_info* c = shortest_title_containing(list_, search)) {
    return c;
  }
  static const std::regex trailing_hash(R"(\s*\[[^\]]*\]\s*$)");
  const std::string bare = std::regex_replace(search, trailing_hash, "");
  return bare.empty() || bare == search ? nullptr : shortest_title_containing(list_, bare);
}

void checkpoint_catalog::refresh_hashes() {
  for (auto& c : list_) {
    if (c.sha256.empty()) {
      c.sha256 = known_file_sha256(c.path);
    }
  }
}

void checkpoint_catalog::learn_sha256(const std::string& path, const std::string& sha256) {
  const std::string real = canonical_or_same(path);
  for (auto& c : list_) {
    if (c.path == real) {
      c.sha256 = sha256;
    }
  }
}

} // namespace sdw
