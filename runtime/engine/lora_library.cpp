#include "runtime/engine/lora_library.hpp"

#include "runtime/catalog/lora_catalog.hpp"
#include "runtime/catalog/model_folders.hpp"

#include <spdlog/spdlog.h>

#include <cctype>
#include <set>
#include <system_error>
#include <vector>

namespace sdw {
namespace fs = std::filesystem;

bool is_safe_lora_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find_first_of(std::string("/\\\0", 3)) == std::string::npos;
}

lora_library::lora_library(std::string dir) : dir_(std::move(dir)) { scan(); }

const lora_library::layer_map& lora_library::layers_for(const model_config& config) {
  for (const auto& [seen, layers] : layouts_) {
    if (seen == config) {
      return *layers;
    }
  }
  layouts_.emplace_back(config, std::make_unique<const layer_map>(lora_layers(config)));
  return *layouts_.back().second;
}

void lora_library::scan() {
  // By file name and by the metadata's ss_output_name alias, as A1111 finds a network; links
  // are followed only where they stay inside the folder (files_inside).
  by_name_ = lora_paths_by_name(list_lora_files(dir_));
}

std::optional<std::string> lora_library::find(const std::string& name) {
  if (!is_safe_lora_name(name)) {
    return std::nullopt;
  }
  auto it = by_name_.find(name);
  if (it == by_name_.end()) {
    scan();
    it = by_name_.find(name);
  }
  if (it == by_name_.end()) {
    return std::nullopt;
  }
  // The file may have been replaced by a link since the scan: check again where it leads.
  std::error_code ec;
  const fs::path root = fs::canonical(dir_, ec);
  const fs::path real = fs::canonical(it->second, ec);
  if (ec || !path_inside(root, real)) {
    return std::nullopt;
  }
  return real.string();
}

lora_library::entry& lora_library::current(const std::string& path) {
  std::error_code ec;
  const auto mtime = fs::last_write_time(path, ec);
  const auto size = fs::file_size(path, ec);
  entry& e = files_[path];
  if (e.mtime != mtime || e.size != size) {
    e = entry{mtime, size, {}, ""};
  }
  return e;
}

std::shared_ptr<const lora_network> lora_library::network(const std::string& path, const model_config& config) {
  const layer_map& layers = layers_for(config);
  entry& e = current(path);
  std::shared_ptr<const lora_network>& net = e.networks[&layers];
  if (!net) {
    net = load_lora_network(path, layers);
    if (net->unmatched > 0) {
      spdlog::debug("Lora {}: {} keys match no layer of the model", path, net->unmatched);
    }
    if (net->unapplied > 0) {
      spdlog::debug("Lora {}: {} modules are for embedding layers, which take no network", path, net->unapplied);
    }
    if (net->refused > 0) {
      spdlog::warn("Lora {}: {} OFT modules (oft_blocks / oft_diag) are not supported and are skipped; the rest of "
                   "the file is applied", path, net->refused);
    }
  }
  return net;
}

std::string lora_library::short_hash(const std::string& path) {
  entry& e = current(path);
  if (e.hash.empty()) {
    e.hash = lora_short_hash(path);
  }
  return e.hash;
}

} // namespace sdw
