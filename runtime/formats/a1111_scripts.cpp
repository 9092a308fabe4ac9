#include "runtime/formats/a1111_scripts.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/image/model_upscalers.hpp"
#include "runtime/image/tile_grid.hpp"

#include <cctype>
#include <cmath>

namespace sdw {
namespace {

/// What sdworker does with a script A1111 has.
enum class script_support {
  runs,        ///< run here (SD upscale)
  no_effect,   ///< always-on, and its API arguments change nothing in A1111 either
  unless_enabled,  ///< always-on, accepted while its first argument is falsy
  refused,     ///< refused with a clear error
};

struct a1111_script {
  const char* title;
  bool txt2img;
  bool img2img;
  bool alwayson;
  script_support support;
};

// A1111 1.9.4's scripts per route: scripts/ (Custom code only with --allow-code, so absent),
// modules/processing_scripts/ and the built-in extensions' scripts (extra-options-section, hypertile,
// soft-inpainting). The Lora extension registers no Script.
const a1111_script scripts[] = {
    {"Refiner", true, true, true, script_support::no_effect},
    {"Seed", true, true, true, script_support::no_effect},
    {"Sampler", true, true, true, script_support::no_effect},
    {"Comments", true, true, true, script_support::no_effect},
    {"Extra options", true, true, true, script_support::no_effect},
    {"Hypertile", true, true, true, script_support::no_effect},
    {"Soft Inpainting", false, true, true, script_support::unless_enabled},
    {"Prompt matrix", true, true, false, script_support::refused},
    {"Prompts from file or textbox", true, true, false, script_support::refused},
    {"X/Y/Z plot", true, true, false, script_support::refused},
    {"img2img alternative test", false, true, false, script_support::refused},
    {"Loopback", false, true, false, script_support::refused},
    {"Outpainting mk2", false, true, false, script_support::refused},
    {"Poor man's outpainting", false, true, false, script_support::refused},
    {"SD upscale", false, true, false, script_support::runs},
};

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool on_route(const a1111_script& s, request_kind kind) {
  return kind == request_kind::img2img ? s.img2img : s.txt2img;
}

/// script_name_to_index over the route's scripts (selectable only, or all).
const a1111_script* find_script(const std::string& name, request_kind kind, bool selectable_only) {
  const std::string key = lower(name);
  for (const auto& s : scripts) {
    if (on_route(s, kind) && (!selectable_only || !s.alwayson) && lower(s.title) == key) return &s;
  }
  return nullptr;
}

/// Python's truthiness of a JSON value.
bool truthy(const json_value& v) {
  if (v.is_null()) return false;
  if (v.is_bool()) return v.as_bool();
  if (v.is_number()) return v.as_number() != 0;
  if (v.is_string()) return !v.as_string().empty();
  if (v.is_array()) return !v.as_array().empty();
  return !v.as_object().empty();
}

const char* const upscaler_names[] = {"None", "Lanczos", "Nearest"};

std::string arg_field(int i) { return "script_args." + std::to_string(i); }

int parse_overlap(const json_value& v, const txt2img_request& r) {
  const std::string field = arg_field(1);
  if (!v.is_number() || v.is_bool() || std::floor(v.as_number()) != v.as_number())
    throw error(errc::bad_request, field, "the tile overlap must be an integer");
  const double o = v.as_number();
  const int limit = std::min(r.width, r.height);
  if (o < 0 || o >= limit)
    throw error(errc::bad_request, field,
                "the tile overlap must be from 0 to less than the tile's width and height (" +
                  std::to_string(r.width) + "x" + std::to_string(r.height) + "), got " + python_str(v));
  return static_cast<int>(o);
}

/// shared.sd_upscalers as the script's index reads it: the built-ins, then the model upscalers present.
std::vector<std::string> upscaler_list() {
  std::vector<std::string> names(std::begin(upscaler_names), std::end(upscaler_names));
  if (const auto models = installed_model_upscalers()) {
    for (const auto& e : models->present()) names.push_back(e.name);
  }
  return names;
}

std::string parse_upscaler(const json_value& v) {
  const std::string field = arg_field(2);
  if (v.is_int()) {
    const auto i = v.as_int();
    const std::vector<std::string> names = upscaler_list();
    if (i < 0 || i >= static_cast<std::int64_t>(names.size())) {
      std::string have;
      for (std::size_t k = 0; k < names.size(); ++k) have += (k ? ", " : "") + std::to_string(k) + " " + names[k];
      throw error(errc::bad_request, field,
                  "upscaler index " + std::to_string(i) + " is not in this worker's upscaler list (" + have + ")");
    }
    return names[static_cast<std::size_t>(i)];
  }
  if (v.is_string()) {
    check_upscaler_name(field, v.as_string());
    return v.as_string();
  }
  throw error(errc::bad_request, field, "the upscaler must be an index into the upscaler list or an upscaler's name");
}

double parse_scale(const json_value& v, const std::string& upscaler) {
  const std::string field = arg_field(3);
  if (!v.is_number() || v.is_bool()) throw error(errc::bad_request, field, "value is not a valid float");
  const double s = v.as_number();
  if (upscaler != "None" && !(s > 0 && s <= 8))
    throw error(errc::bad_request, field, "the scale factor must be above 0 and at most 8, got " + python_str(v));
  return s;
}

void check_alwayson(const txt2img_request& r) {
  for (const auto& [name, value] : r.alwayson_scripts) {
    const a1111_script* s = find_script(name, r.kind, false);
    if (s == nullptr) throw error(errc::not_found, "alwayson_scripts", "Script '" + name + "' not found");
    if (!s->alwayson)
      throw error(errc::not_found, "alwayson_scripts", "Cannot have a selectable script in the always on scripts params");
    const std::string field = "alwayson_scripts." + name;
    if (!value.is_object()) throw error(errc::bad_request, field, "value is not a valid dict");
    const json_value* args = value.find("args");
    if (args == nullptr || args->is_null()) continue;
    if (!args->is_array()) throw error(errc::bad_request, field + ".args", "value is not a valid list");
    if (s->support == script_support::unless_enabled && !args->as_array().empty() && truthy(args->as_array()[0]))
      throw error(errc::bad_request, field + ".args.0",
                  std::string(s->title) + " is not supported by sdworker; send it disabled or leave it out");
  }
}

} // namespace

bool is_sd_upscale(const txt2img_request& r) {
  return r.kind == request_kind::img2img && r.script_name && lower(*r.script_name) == "sd upscale";
}

void check_request_scripts(const txt2img_request& r) {
  if (r.script_name && !r.script_name->empty()) {
    const a1111_script* s = find_script(*r.script_name, r.kind, true);
    if (s == nullptr) throw error(errc::not_found, "script_name", "Script '" + *r.script_name + "' not found");
    if (s->support != script_support::runs)
      throw error(errc::bad_request, "script_name",
                  "script '" + std::string(s->title) + "' is not supported by sdworker; it runs the SD upscale script (img2img)");
    sd_upscale_args_of(r);
    if (r.mask_image) throw error(errc::bad_request, "mask", "is not supported with the SD upscale script");
  }
  check_alwayson(r);
}

sd_upscale_args sd_upscale_args_of(const txt2img_request& r) {
  sd_upscale_args a;
  const json_array& v = r.script_args;
  if (v.size() > 1) a.overlap = parse_overlap(v[1], r);
  else if (a.overlap >= std::min(r.width, r.height)) parse_overlap(json_value(a.overlap), r);
  if (v.size() > 2) a.upscaler = parse_upscaler(v[2]);
  if (v.size() > 3) a.scale_factor = parse_scale(v[3], a.upscaler);
  if (r.init_images.empty()) throw error(errc::bad_request, "init_images", "at least one image is required");
  const upscaled_size s = sd_upscale_size(r, a);
  if (s.width <= a.overlap || s.height <= a.overlap || s.width > 8192 || s.height > 8192)
    throw error(errc::bad_request, arg_field(3),
                "upscales the " + std::to_string(r.init_images[0].width) + "x" + std::to_string(r.init_images[0].height) +
                  " image to " + std::to_string(s.width) + "x" + std::to_string(s.height) +
                  "; each side must be larger than the overlap (" + std::to_string(a.overlap) + ") and at most 8192");
  return a;
}

upscaled_size sd_upscale_size(const txt2img_request& r, const sd_upscale_args& a) {
  const image8& im = r.init_images.at(0);
  if (a.upscaler == "None") return {im.width, im.height};
  return {static_cast<int>(std::floor(im.width * a.scale_factor / 8) * 8),
          static_cast<int>(std::floor(im.height * a.scale_factor / 8) * 8)};
}

int sd_upscale_tile_count(const txt2img_request& r, const sd_upscale_args& a) {
  const upscaled_size s = sd_upscale_size(r, a);
  const grid_shape g = split_grid_shape(s.width, s.height, r.width, r.height, a.overlap);
  return g.cols * g.rows;
}

std::vector<std::string> listed_script_names(request_kind kind) {
  std::vector<std::string> out;
  for (const auto& s : scripts) {
    if (on_route(s, kind) && s.support != script_support::refused) out.push_back(lower(s.title));
  }
  return out;
}

std::vector<script_info> listed_script_infos() {
  script_info up{"sd upscale", false, true, {}};
  up.args.push_back({"",
                     json_value("<p style=\"margin-bottom:0.75em\">Will upscale the image by the selected scale factor; "
                                "use width and height sliders to set tile size</p>"),
                     {}, {}, {}, std::nullopt});
  up.args.push_back({"Tile overlap", json_value(64), json_value(0), json_value(256), json_value(16), std::nullopt});
  up.args.push_back({"Upscaler", json_value("None"), {}, {}, {}, upscaler_list()});
  up.args.push_back({"Scale Factor", json_value(2), json_value(0), json_value(4), json_value(1), std::nullopt});
  return {up};
}

} // namespace sdw
