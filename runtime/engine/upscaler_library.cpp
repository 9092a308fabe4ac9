#include "runtime/engine/upscaler_library.hpp"

#include "runtime/catalog/model_folders.hpp"
#include "runtime/catalog/natural_order.hpp"
#include "runtime/engine/upscaler_models.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <system_error>

namespace fs = std::filesystem;

namespace sdw {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

/// Every model file under `folder` (links followed only where they stay inside), in natural order.
std::vector<fs::path> model_files(const std::string& folder) {
  std::vector<fs::path> files;
  if (folder.empty()) return files;
  for (const found_file& f : files_inside(folder, {".pth", ".pt", ".safetensors"})) {
    files.push_back(fs::path(folder) / f.relative);
  }
  std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) { return natural_less(a.string(), b.string()); });
  return files;
}

std::string file_stamp(const std::string& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  const auto time = fs::last_write_time(path, ec);
  return std::to_string(size) + "@" + std::to_string(time.time_since_epoch().count());
}

class bound_upscalers final : public model_upscaler_set {
public:
  bound_upscalers(std::shared_ptr<const upscaler_library> library, c10::Device device, bool half)
    : library_(std::move(library)), device_(device), half_(half) {}

  std::vector<model_upscaler_entry> present() const override { return library_->present(); }
  bool has(const std::string& name) const override { return library_->find(name).has_value(); }
  std::optional<std::string> missing_file(const std::string& name) const override { return library_->missing_file(name); }

  image8 upscale_once(const std::string& name, const image8& rgb, int tile, int overlap) const override {
    const auto entry = library_->find(name);
    if (!entry) return rgb;
    const c10::ScalarType dtype = entry->realesrgan && half_ ? c10::kHalf : c10::kFloat;
    const auto net = library_->network(*entry, device_, dtype);
    return upscale_with_model(*net, rgb, tile, overlap, device_, dtype);
  }

private:
  std::shared_ptr<const upscaler_library> library_;
  c10::Device device_;
  bool half_;
};

std::mutex installed_mutex;
std::shared_ptr<const upscaler_library> installed_library;

} // namespace

const std::vector<realesrgan_model>& realesrgan_models() {
  static const std::vector<realesrgan_model> models = {
    {"R-ESRGAN General 4xV3", "realesr-general-x4v3", 4},
    {"R-ESRGAN General WDN 4xV3", "realesr-general-wdn-x4v3", 4},
    {"R-ESRGAN AnimeVideo", "realesr-animevideov3", 4},
    {"R-ESRGAN 4x+", "RealESRGAN_x4plus", 4},
    {"R-ESRGAN 4x+ Anime6B", "RealESRGAN_x4plus_anime_6B", 4},
    {"R-ESRGAN 2x+", "RealESRGAN_x2plus", 2},
  };
  return models;
}

upscaler_library::upscaler_library(upscaler_folders folders, std::size_t cache_size)
  : folders_(std::move(folders)), cache_size_(std::max<std::size_t>(cache_size, 1)) {}

std::vector<model_upscaler_entry> upscaler_library::present() const {
  std::vector<model_upscaler_entry> out;
  for (const fs::path& p : model_files(folders_.esrgan)) {
    out.push_back({p.stem().string(), std::string("ESRGAN_4x"), p.string(), 4, false});
  }
  const std::vector<fs::path> real = model_files(folders_.realesrgan);
  for (const auto& m : realesrgan_models()) {
    // A1111 takes the first file whose path ends with the download's name.
    for (const fs::path& p : real) {
      const std::string base = p.filename().string();
      if (base == std::string(m.stem) + ".pth" || base == std::string(m.stem) + ".pt" ||
          base == std::string(m.stem) + ".safetensors") {
        out.push_back({m.name, std::nullopt, p.string(), m.scale, true});
        break;
      }
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return lower(a.name) < lower(b.name); });
  return out;
}

std::optional<model_upscaler_entry> upscaler_library::find(const std::string& name) const {
  for (auto& e : present()) {
    if (e.name == name) return e;
  }
  return std::nullopt;
}

std::optional<std::string> upscaler_library::missing_file(const std::string& name) const {
  if (name == "ESRGAN_4x") return (fs::path(folders_.esrgan) / "ESRGAN_4x.pth").string();
  for (const auto& m : realesrgan_models()) {
    if (name == m.name) return (fs::path(folders_.realesrgan) / (std::string(m.stem) + ".pth")).string();
  }
  return std::nullopt;
}

std::shared_ptr<const upscale_network> upscaler_library::network(const model_upscaler_entry& entry, c10::Device device,
                                                                c10::ScalarType dtype) const {
  const std::string key = entry.path + "|" + file_stamp(entry.path) + "|" + device.str() + "|" + c10::toString(dtype);
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = cache_.begin(); it != cache_.end(); ++it) {
    if (it->key == key) {
      cache_.splice(cache_.begin(), cache_, it);
      return cache_.front().net;
    }
  }
  std::shared_ptr<const upscale_network> net = load_upscale_network(entry.path, device, dtype);
  cache_.push_front({key, net});
  while (cache_.size() > cache_size_) cache_.pop_back();
  return net;
}

std::shared_ptr<const model_upscaler_set> model_upscalers_for(std::shared_ptr<const upscaler_library> library,
                                                              c10::Device device, bool half) {
  return std::make_shared<bound_upscalers>(std::move(library), device, half);
}

void install_upscaler_library(std::shared_ptr<const upscaler_library> library, c10::Device device, bool half) {
  {
    std::lock_guard<std::mutex> lock(installed_mutex);
    installed_library = library;
  }
  install_model_upscalers(library ? model_upscalers_for(library, device, half) : nullptr);
}

std::shared_ptr<const model_upscaler_set> model_upscalers_on(c10::Device device, c10::ScalarType dtype) {
  std::lock_guard<std::mutex> lock(installed_mutex);
  if (!installed_library) return nullptr;
  return model_upscalers_for(installed_library, device, dtype == c10::kHalf);
}

} // namespace sdw
