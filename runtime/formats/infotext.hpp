#pragma once
/// The A1111 infotext: the "parameters" text stored in each PNG and returned in `info`.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sdw {

/// What one image's infotext says. Optional entries that are empty are left out; the caller applies
/// the `add_*_to_info` options by leaving model hash/name/version empty.
struct infotext_input {
  std::string prompt;           ///< this image's prompt (after styles and comment stripping, tags kept)
  std::string negative_prompt;  ///< its negative prompt; the "Negative prompt:" line only when non-empty
  int steps = 50;
  std::string sampler_name;                  ///< "Sampler"
  std::optional<std::string> schedule_type;  ///< "Schedule type" (the request's raw scheduler)
  double cfg_scale = 7.0;
  std::optional<double> image_cfg_scale;  ///< "Image CFG scale" (instruct-pix2pix only)
  std::int64_t seed = 0;                  ///< this image's seed
  std::optional<std::string> face_restoration;  ///< the face restoration model, when restoring
  int width = 512;
  int height = 512;
  std::optional<std::string> model_hash;  ///< 10-hex short hash
  std::optional<std::string> model_name;  ///< checkpoint file name without directory and extension
  std::optional<std::string> vae_hash;
  std::optional<std::string> vae_name;
  std::int64_t subseed = -1;        ///< this image's variation seed; written only when strength != 0
  double subseed_strength = 0.0;
  int seed_resize_from_w = -1;      ///< "Seed resize from" only when both are > 0
  int seed_resize_from_h = -1;
  std::optional<double> denoising_strength;
  std::optional<double> conditional_mask_weight;
  int clip_skip = 1;                ///< written only when > 1
  std::optional<std::int64_t> ensd; ///< "ENSD", when non-zero and the sampler uses it
  std::optional<double> token_merging_ratio;
  std::optional<double> token_merging_ratio_hr;
  std::optional<std::string> init_image_hash;
  std::optional<std::string> rng;   ///< "RNG": "CPU" or "NV" ("GPU" is left out)
  double s_min_uncond = 0.0;        ///< "NGMS" when non-zero
  bool tiling = false;              ///< "Tiling: True"
  /// extra_generation_params as `str()` values, in insertion order; a key equal to a fixed key above
  /// replaces that entry's value in its place.
  std::vector<std::pair<std::string, std::string>> extra_params;
  std::optional<std::string> version;  ///< "Version" (e.g. "v1.9.4")
  std::optional<std::string> user;     ///< "User"
};

/// The infotext exactly as A1111 1.9.4's create_infotext writes it: prompt, optional
/// "Negative prompt: …" line, then "Key: value" entries joined by ", ", the whole stripped.
std::string create_infotext(const infotext_input& in);

/// A1111's quoting of an infotext value: unchanged unless it contains ',', ':' or a newline, then
/// a JSON string (`json.dumps(v, ensure_ascii=False)`).
std::string quote_infotext_value(const std::string& value);

/// Python's `str.strip()`: removes leading and trailing Unicode whitespace.
std::string python_strip(const std::string& s);

} // namespace sdw
