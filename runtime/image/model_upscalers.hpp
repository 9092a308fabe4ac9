#pragma once
/// The upscalers that run a model file (ESRGAN, R-ESRGAN), as the pixel paths see them: an
/// interface the engine implements, so that the image and formats libraries can name, check and
/// call them without knowing torch.

#include "runtime/image/image8.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sdw {

/// A model upscaler that is present, as A1111's UpscalerData lists it.
struct model_upscaler_entry {
  std::string name;        ///< "4x-UltraSharp" (an ESRGAN file's stem) or "R-ESRGAN 4x+"
  std::optional<std::string> model_name;  ///< the Upscaler's model_name: "ESRGAN_4x" for ESRGAN files, none for R-ESRGAN
  std::string path;        ///< the file
  int scale = 4;           ///< UpscalerData.scale (A1111's, not the network's)
  bool realesrgan = false; ///< one of the R-ESRGAN names (listed by /realesrgan-models too)
};

/// The model upscalers a worker has.
class model_upscaler_set {
public:
  virtual ~model_upscaler_set() = default;
  /// The present ones, in A1111's order (sorted by lower-case name).
  virtual std::vector<model_upscaler_entry> present() const = 0;
  /// Whether `name` names a present model upscaler.
  virtual bool has(const std::string& name) const = 0;
  /// For a name A1111 knows as a model upscaler whose file is absent here, the file it would be
  /// read from ("models/RealESRGAN/RealESRGAN_x4plus.pth"); std::nullopt for any other name.
  virtual std::optional<std::string> missing_file(const std::string& name) const = 0;
  /// One pass of the model over an RGB image (A1111's Upscaler.do_upscale): the network's own
  /// scale, in tiles of `tile` (0: the whole image at once) overlapping by `overlap` (the options
  /// ESRGAN_tile, ESRGAN_tile_overlap). Errors: sdw::error(bad_checkpoint, file, why) for a damaged
  /// or unknown model file.
  virtual image8 upscale_once(const std::string& name, const image8& rgb, int tile, int overlap) const = 0;
};

/// Which model upscalers a pixel path uses and how it tiles them.
struct model_upscale_use {
  const model_upscaler_set* models = nullptr;  ///< nullptr: the installed ones
  int tile = 192;                              ///< option ESRGAN_tile
  int overlap = 8;                             ///< option ESRGAN_tile_overlap
};

/// The process's model upscalers (installed once at start); nullptr when none were installed.
void install_model_upscalers(std::shared_ptr<const model_upscaler_set> set);
std::shared_ptr<const model_upscaler_set> installed_model_upscalers();

/// Refuses an upscaler name that is neither built in ("None", "Lanczos", "Nearest") nor a present
/// model upscaler of `models` (the installed ones when nullptr): a model upscaler whose file is
/// absent → sdw::error(bad_request, field, "... needs its model file <path> ..."), any other →
/// "could not find upscaler named ..."; both list the upscalers this worker has.
void check_upscaler_name(const std::string& field, const std::string& name, const model_upscaler_set* models = nullptr);

} // namespace sdw
