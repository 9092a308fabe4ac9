#pragma once
/// The model upscalers in the models folders, named as A1111 1.9.4 names them (modules/modelloader.py,
/// esrgan_model.py, realesrgan_model.py): every .pth/.pt/.safetensors file under the ESRGAN folder
/// by its file stem, and the six R-ESRGAN models by their fixed names when their file is in the
/// RealESRGAN folder. Networks are loaded on first use and kept in a small cache.

#include "runtime/engine/upscale_network.hpp"
#include "runtime/image/model_upscalers.hpp"

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace sdw {

/// Where the model upscalers are looked for; nothing outside these folders is opened.
struct upscaler_folders {
  std::string esrgan = "models/ESRGAN";          ///< ESRGAN files, any name (option model.esrgan-dir)
  std::string realesrgan = "models/RealESRGAN";  ///< RealESRGAN_x4plus.pth and the other R-ESRGAN files
};

/// The R-ESRGAN models A1111 knows (get_realesrgan_models): name, the file stem of its download, scale.
struct realesrgan_model {
  const char* name;
  const char* stem;
  int scale;
};
const std::vector<realesrgan_model>& realesrgan_models();

/// The folders' model upscalers, and a cache of the networks most recently used.
class upscaler_library {
public:
  explicit upscaler_library(upscaler_folders folders, std::size_t cache_size = 2);

  const upscaler_folders& folders() const { return folders_; }
  /// The present model upscalers sorted by lower-case name (the folders are read on each call, so
  /// files added or removed show at once).
  std::vector<model_upscaler_entry> present() const;
  /// The first present entry of that name.
  std::optional<model_upscaler_entry> find(const std::string& name) const;
  /// The file a known but absent name would be read from (ESRGAN_4x → <esrgan>/ESRGAN_4x.pth,
  /// R-ESRGAN 4x+ → <realesrgan>/RealESRGAN_x4plus.pth); nullopt for other names.
  std::optional<std::string> missing_file(const std::string& name) const;
  /// The network of a present entry on `device` in `dtype`, loaded once (a changed file is read
  /// again). Errors: load_upscale_network's.
  std::shared_ptr<const upscale_network> network(const model_upscaler_entry& entry, c10::Device device,
                                                 c10::ScalarType dtype) const;

private:
  struct cached {
    std::string key;
    std::shared_ptr<const upscale_network> net;
  };
  upscaler_folders folders_;
  std::size_t cache_size_;
  mutable std::mutex mutex_;
  mutable std::list<cached> cache_;  ///< most recently used first
};

/// The library as the pixel paths call it, its networks run on `device`: ESRGAN files in float32
/// (A1111 loads them without prefer_half), R-ESRGAN models in half precision when `half` (A1111's
/// default unless --no-half).
std::shared_ptr<const model_upscaler_set> model_upscalers_for(std::shared_ptr<const upscaler_library> library,
                                                              c10::Device device, bool half);

/// Makes `library` the process's: installs model_upscalers_for(library, device, half) for the
/// paths that run outside an executor (extras, checks and listings), and keeps it for
/// model_upscalers_on.
void install_upscaler_library(std::shared_ptr<const upscaler_library> library, c10::Device device, bool half);

/// The installed library bound to an executor's device and dtype (half when `dtype` is Half);
/// nullptr when none is installed.
std::shared_ptr<const model_upscaler_set> model_upscalers_on(c10::Device device, c10::ScalarType dtype);

} // namespace sdw
