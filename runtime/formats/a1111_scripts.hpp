#pragma once
/// The scripts of A1111 1.9.4 that a generation request can name: `script_name` (one selectable
/// script, whose run() replaces process_images) and `alwayson_scripts` (`{title: {"args": [...]}}`),
/// looked up as modules/api/api.py does (titles compared lower-cased, per route), and the arguments
/// of the one selectable script sdworker runs, "SD upscale" (scripts/sd_upscale.py).

#include "runtime/formats/a1111_listings.hpp"
#include "runtime/formats/txt2img_request.hpp"

#include <string>
#include <vector>

namespace sdw {

/// Checks a request's script_name and alwayson_scripts against A1111 1.9.4's scripts of its route:
/// - a name A1111 does not have there → sdw::error(not_found, "script_name" / "alwayson_scripts",
///   "Script 'x' not found"), A1111's 422; a selectable script among the always-on ones →
///   not_found "alwayson_scripts", "Cannot have a selectable script in the always on scripts params";
/// - a script A1111 has there and sdworker does not run → sdw::error(bad_request, "script_name",
///   "script 'X/Y/Z plot' is not supported by sdworker ...");
/// - "SD upscale": its script_args checked (sd_upscale_args_of), and no mask with it;
/// - always-on scripts whose arguments A1111's API leaves without effect (Seed, Sampler, Refiner:
///   UI-only set-up; Comments, Extra options, Hypertile: driven by options) are accepted and their
///   arguments ignored, as there; Soft Inpainting is accepted when not enabled.
void check_request_scripts(const txt2img_request& request);

/// Whether a request runs the SD upscale script (script_name "SD upscale" in any case, img2img).
bool is_sd_upscale(const txt2img_request& request);

/// The arguments of SD upscale's run(p, _, overlap, upscaler_index, scale_factor), as the API passes
/// script_args: [info (ignored), overlap, upscaler, scale_factor]; missing trailing ones take the
/// script's UI defaults (64, "None", 2).
struct sd_upscale_args {
  int overlap = 64;
  std::string upscaler = "None";  ///< a built-in: "None", "Lanczos" or "Nearest"
  double scale_factor = 2.0;
};

/// Parses and checks a request's SD upscale arguments. The upscaler is an index into A1111's
/// upscaler list (0 None, 1 Lanczos, 2 Nearest) or one of those names; any other names an upscaler
/// with a model file this worker does not have. overlap: an integer from 0 to less than width and
/// height; scale_factor: a number above 0, at most 8 (ignored by "None"); the upscaled image must be
/// wider and taller than the overlap and at most 8192 on a side. Errors: sdw::error(bad_request,
/// "script_args.<i>", ...).
sd_upscale_args sd_upscale_args_of(const txt2img_request& request);

/// The size SD upscale's upscaler gives the first init image: int(side·scale) // 8 · 8 each way for
/// Lanczos and Nearest (A1111's Upscaler.upscale), the image's own size for None.
struct upscaled_size {
  int width = 0;
  int height = 0;
};
upscaled_size sd_upscale_size(const txt2img_request& request, const sd_upscale_args& args);

/// How many tiles SD upscale cuts the upscaled image into (split_grid's columns × rows).
int sd_upscale_tile_count(const txt2img_request& request, const sd_upscale_args& args);

/// The script titles `GET /sdapi/v1/scripts` lists for a route, lower-cased as A1111 lists them:
/// those sdworker accepts (SD upscale on img2img, and the always-on scripts above).
std::vector<std::string> listed_script_names(request_kind kind);

/// What `GET /sdapi/v1/script-info` shows of the scripts sdworker runs: SD upscale's ScriptInfo
/// with its UI controls as A1111 makes them into ScriptArgs (the upscaler choices are this worker's).
std::vector<script_info> listed_script_infos();

} // namespace sdw
