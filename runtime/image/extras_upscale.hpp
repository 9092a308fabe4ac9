#pragma once
/// The Upscale step of A1111's extras (scripts/postprocessing_upscale.py, as /sdapi/v1/extra-single-image
/// and /extra-batch-images run it) with the built-in upscalers: the sizes it goes through and the
/// pixels it makes, the same as A1111 1.9.4 with Pillow 9.5; model upscalers through model_upscalers.hpp.

#include "runtime/image/image8.hpp"
#include "runtime/image/model_upscalers.hpp"

#include <string>

namespace sdw {

/// What the Upscale step is asked to do.
struct extras_upscale_params {
  int mode = 0;                   ///< 0 scale by `upscale_by`, 1 scale to `to_width`×`to_height`
  double upscale_by = 2;
  int to_width = 512;
  int to_height = 512;
  bool crop = true;               ///< mode 1: centre the result on a to_width×to_height canvas
  std::string upscaler_1 = "None";  ///< "None" leaves the image as it is
  std::string upscaler_2 = "None";  ///< blended over upscaler_1's result when visibility > 0
  double upscaler_2_visibility = 0;
};

/// The sizes one image goes through.
struct extras_upscale_plan {
  bool runs = false;       ///< upscaler_1 is not "None"
  bool blends = false;     ///< upscaler_2 runs and is blended in
  double scale = 1;        ///< the factor Upscaler.upscale gets (mode 1: max(to_width/w, to_height/h))
  int pass_width = 0;      ///< int(w·scale): the size of the upscaler's own pass
  int pass_height = 0;
  int upscaled_width = 0;  ///< Upscaler.upscale's result: the multiple of 8 at or below w·scale
  int upscaled_height = 0;
  bool cropped = false;    ///< mode 1 with crop
  int width = 0;           ///< the image that comes out
  int height = 0;
};

/// The plan for a `width`×`height` image. The upscaler names are taken as given (the caller checks them).
extras_upscale_plan plan_extras_upscale(int width, int height, const extras_upscale_params& p);

/// Runs the Upscale step on an RGB image, as planned: upscaler_1 by the plan's scale (Upscaler.upscale),
/// upscaler_2 likewise and PIL's blend at upscaler_2_visibility, then in mode 1 with crop a paste centred
/// on a black to_width×to_height canvas (cutting or leaving black bands, as A1111's does). Model
/// upscalers come from `use`.
image8 extras_upscale(const image8& rgb, const extras_upscale_params& p, const model_upscale_use& use = {});

} // namespace sdw
