#pragma once
/// The txt2img/img2img response body of A1111: `{"images": [...], "parameters": {...}, "info": "..."}`,
/// where `info` is the JSON text of the processing result (Processed.js()).

#include "runtime/base/json_value.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sdw {

/// What the `info` string reports about a finished job (A1111's Processed), in its terms.
struct processed_info {
  std::vector<std::string> all_prompts;           ///< per image, after styles and comment stripping
  std::vector<std::string> all_negative_prompts;
  std::vector<std::int64_t> all_seeds;
  std::vector<std::int64_t> all_subseeds;
  std::int64_t seed = -1;                          ///< the job's first seed
  std::int64_t subseed = -1;
  json_value subseed_strength = json_value(0);     ///< as the request had it (integer 0 by default)
  int width = 512;
  int height = 512;
  std::string sampler_name;
  double cfg_scale = 7.0;
  int steps = 50;
  int batch_size = 1;
  bool restore_faces = false;
  std::optional<std::string> face_restoration_model;
  std::optional<std::string> sd_model_name;
  std::optional<std::string> sd_model_hash;
  std::optional<std::string> sd_vae_name;
  std::optional<std::string> sd_vae_hash;
  int seed_resize_from_w = -1;
  int seed_resize_from_h = -1;
  std::optional<double> denoising_strength;
  json_object extra_generation_params;             ///< in insertion order
  int index_of_first_image = 0;                    ///< 1 when a grid leads the images
  std::vector<std::string> infotexts;              ///< one per returned image
  std::vector<std::string> styles;
  std::string job_timestamp;                       ///< "%Y%m%d%H%M%S" at job start
  int clip_skip = 1;
  bool is_using_inpainting_conditioning = false;
  std::optional<std::string> version;              ///< e.g. "v1.9.4"
};

/// The `info` string: Processed.js() key order, Python json.dumps style (", ", ": ", ASCII escapes).
/// `prompt` / `negative_prompt` are the first of the per-image lists ("" when empty).
std::string make_info_json(const processed_info& info);

/// The response body, compact UTF-8: images (base64 PNGs), parameters (the request echo), info.
std::string make_txt2img_response(const std::vector<std::string>& png_base64, const json_value& parameters,
                                  const std::string& info);

/// The current local time in A1111's job timestamp format ("%Y%m%d%H%M%S").
std::string job_timestamp_now();

} // namespace sdw
