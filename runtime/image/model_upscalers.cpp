#include "runtime/image/model_upscalers.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/image/resample.hpp"

#include <mutex>
#include <set>

namespace sdw {
namespace {

/// The upscalers A1111 1.9.4 lists out of the box that need a model file (it downloads them).
bool a1111_model_upscaler(const std::string& name) {
  static const std::set<std::string> names = {
    "DAT x2", "DAT x3", "DAT x4", "ESRGAN_4x", "LDSR", "R-ESRGAN 2x+", "R-ESRGAN 4x+", "R-ESRGAN 4x+ Anime6B",
    "R-ESRGAN AnimeVideo", "R-ESRGAN General 4xV3", "R-ESRGAN General WDN 4xV3", "ScuNET", "ScuNET GAN",
    "ScuNET PSNR", "SwinIR 4x"};
  return names.count(name) != 0;
}

std::mutex installed_mutex;
std::shared_ptr<const model_upscaler_set> installed;

} // namespace

void install_model_upscalers(std::shared_ptr<const model_upscaler_set> set) {
  std::lock_guard<std::mutex> lock(installed_mutex);
  installed = std::move(set);
}

std::shared_ptr<const model_upscaler_set> installed_model_upscalers() {
  std::lock_guard<std::mutex> lock(installed_mutex);
  return installed;
}

void check_upscaler_name(const std::string& field, const std::string& name, const model_upscaler_set* models) {
  if (is_builtin_upscaler(name)) return;
  const auto keep = models == nullptr ? installed_model_upscalers() : nullptr;
  if (models == nullptr) models = keep.get();
  std::string have = "None, Lanczos, Nearest";
  if (models != nullptr) {
    if (models->has(name)) return;
    for (const auto& e : models->present()) have += ", " + e.name;
    if (const auto file = models->missing_file(name)) {
      throw error(errc::bad_request, field,
                  "upscaler '" + name + "' needs its model file " + *file +
                    ", which this worker does not have; the upscalers here are " + have);
    }
  }
  if (a1111_model_upscaler(name)) {
    throw error(errc::bad_request, field,
                "upscaler '" + name + "' needs its model file, which this worker does not have; the upscalers here are " +
                  have);
  }
  throw error(errc::bad_request, field, "could not find upscaler named " + name + " (this worker has " + have + ")");
}

} // namespace sdw
