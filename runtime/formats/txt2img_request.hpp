#pragma once
/// The A1111 generation request bodies of 1.9.4: `/sdapi/v1/txt2img` (StableDiffusionTxt2ImgProcessingAPI)
/// and `/sdapi/v1/img2img` (StableDiffusionImg2ImgProcessingAPI): every field with A1111's default, the
/// lenient parsing, and the `parameters` echo.

#include "runtime/base/json_value.hpp"
#include "runtime/image/image8.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sdw {

/// Which A1111 route a request is for.
enum class request_kind { txt2img, img2img };

/// The route's path: "/sdapi/v1/txt2img" or "/sdapi/v1/img2img".
const char* route_of(request_kind kind);

/// A txt2img or img2img request. Fields, types and defaults are A1111's; empty optionals are JSON
/// null (A1111 then uses an option or a derived value, as each comment says). The txt2img-only
/// fields (hires fix) keep their defaults in an img2img request, and the img2img ones in a txt2img.
struct txt2img_request {
  request_kind kind = request_kind::txt2img;
  std::string prompt;
  std::string negative_prompt;
  std::optional<std::vector<std::string>> styles;  ///< null = no styles
  std::int64_t seed = -1;                           ///< -1 = random
  std::int64_t subseed = -1;
  double subseed_strength = 0;
  int seed_resize_from_h = -1;
  int seed_resize_from_w = -1;
  std::optional<std::string> sampler_name;  ///< null or "" → sampler_index
  std::optional<std::string> scheduler;     ///< null = "Automatic"
  int batch_size = 1;
  int n_iter = 1;
  int steps = 50;
  double cfg_scale = 7.0;
  int width = 512;
  int height = 512;
  std::optional<bool> restore_faces;  ///< null → option face_restoration (false)
  std::optional<bool> tiling;         ///< null → option tiling (false)
  bool do_not_save_samples = false;
  bool do_not_save_grid = false;
  std::optional<double> eta;                 ///< null → option eta_ancestral / eta_ddim
  std::optional<double> denoising_strength;  ///< hires fix second pass; img2img: 0.75 when null
  std::optional<double> s_min_uncond;        ///< null → options
  std::optional<double> s_churn;
  std::optional<double> s_tmax;
  std::optional<double> s_tmin;
  std::optional<double> s_noise;
  std::optional<json_object> override_settings;  ///< option key → value, in body order
  bool override_settings_restore_afterwards = true;
  std::optional<std::string> refiner_checkpoint;
  std::optional<double> refiner_switch_at;
  bool disable_extra_networks = false;
  std::optional<std::string> firstpass_image;
  std::optional<json_object> comments;
  bool enable_hr = false;
  int firstphase_width = 0;
  int firstphase_height = 0;
  double hr_scale = 2.0;
  std::optional<std::string> hr_upscaler;  ///< null → "Latent"
  int hr_second_pass_steps = 0;
  int hr_resize_x = 0;
  int hr_resize_y = 0;
  std::optional<std::string> hr_checkpoint_name;
  std::optional<std::string> hr_sampler_name;
  std::optional<std::string> hr_scheduler;
  std::string hr_prompt;
  std::string hr_negative_prompt;
  std::optional<std::string> force_task_id;
  std::string sampler_index = "Euler";
  std::optional<std::string> script_name;
  json_array script_args;
  bool send_images = true;
  bool save_images = false;
  json_object alwayson_scripts;
  std::optional<std::string> infotext;

  // img2img. The images are decoded at the edge; the texts are kept only to echo them back when
  // include_init_images is set.
  std::vector<image8> init_images;
  std::optional<std::vector<std::string>> init_images_text;
  int resize_mode = 0;                      ///< 0 just resize, 1 crop and resize, 2 resize and fill, 3 latent
  std::optional<double> image_cfg_scale;    ///< instruct-pix2pix models only
  std::optional<image8> mask_image;         ///< the decoded `mask`
  std::optional<std::string> mask;          ///< as sent, kept like init_images_text
  int mask_blur_x = 4;
  int mask_blur_y = 4;
  std::optional<int> mask_blur;             ///< an int sets both x and y
  bool mask_round = true;
  int inpainting_fill = 0;                  ///< 0 fill, 1 original, 2 latent noise, 3 latent nothing
  bool inpaint_full_res = true;
  int inpaint_full_res_padding = 0;
  int inpainting_mask_invert = 0;
  std::optional<double> initial_noise_multiplier;  ///< null → option initial_noise_multiplier
  std::optional<std::string> latent_mask;   ///< accepted and unused, as A1111's API leaves it
  bool include_init_images = false;

  /// The request fields present in the body (null included), in body order; unknown keys excluded.
  std::vector<std::string> fields_set;

  /// Whether the body named `field` explicitly.
  bool is_set(std::string_view field) const;
  /// The sampler to use: sampler_name when non-empty, else sampler_index.
  const std::string& effective_sampler_name() const;
};

/// An A1111 call carried in a RunPod job: `{"input": {...}}` is a txt2img body;
/// `{"input": {"api": {"method", "endpoint"}, "payload": {...}}}` names the call.
struct a1111_call {
  std::string method = "POST";
  std::string endpoint = "/sdapi/v1/txt2img";
  json_value payload;  ///< the A1111 request body
};

/// The A1111 route an endpoint names, as RunPod jobs write it: with or without the leading "/" and
/// the "sdapi/v1/" prefix, any case, trailing "/" ignored ("sdapi/v1/Options/", "options" →
/// "/sdapi/v1/options").
std::string a1111_call_path(const std::string& endpoint);

/// Whether a call is POST /sdapi/v1/txt2img or /sdapi/v1/img2img (a queued generation job).
bool is_generation_call(const a1111_call& call);

/// Finds the A1111 body in a document: the document itself (a plain A1111 body), or the RunPod
/// forms above (the endpoint as a1111_call_path makes it). Non-object parts → sdw::error(bad_request, "body" / "input" / "input.payload", ...).
a1111_call unwrap_a1111_call(json_value document);

/// Builds a request of `kind` from an A1111 body object, with pydantic-v1 coercions ("20" → 20, 20.7 → 20,
/// "true"/1 → true, null → the default) and range checks: width/height multiples of 8 in 64..2048,
/// seed_resize_from_h/w ≤ 0 (off) or as width/height, steps 1..150, batch_size 1..64, n_iter
/// 1..100, cfg_scale 0..100, subseed_strength, eta, denoising_strength and refiner_switch_at 0..1,
/// s_churn and s_min_uncond 0..100, s_tmin 0..1000, s_tmax ≥ 0 (inf allowed), s_noise 0..10,
/// hr_scale 0..8, hr_resize_x/y and firstphase_width/height 0..2048, hr_second_pass_steps 0..150,
/// prompts ≤ 20000 characters. img2img: init_images decoded (PNG, JPEG, WebP; see image_decode.hpp),
/// null → not_found "Init image not found" as A1111's 404, none or more than batch_size (when more
/// than one) → bad_request; resize_mode and inpainting_fill 0..3; mask_blur, mask_blur_x and
/// mask_blur_y 0..64; a non-empty mask decoded as init images are.
/// script_name, script_args and alwayson_scripts as check_request_scripts (a1111_scripts.hpp) says.
/// Errors: sdw::error(bad_request, "<field>", "value is not a valid integer"), "must be from 0 to
/// 100, got 250.0" and the like.
txt2img_request txt2img_request_from_json(const json_value& body, request_kind kind = request_kind::txt2img);

/// A generation request from an A1111 call: POST /sdapi/v1/txt2img or /sdapi/v1/img2img (case as
/// A1111's router ignores it); any other call → sdw::error(unsupported, "input.api.endpoint", ...).
txt2img_request generation_request_from_call(const a1111_call& call);

/// Parses a generation request from JSON text: an A1111 txt2img body, or a RunPod job wrapping a
/// txt2img body or naming POST /sdapi/v1/txt2img or /sdapi/v1/img2img in its api form. Malformed JSON →
/// sdw::error(bad_request, "body", "Expecting value: line 1 column 1 (char 0)") and the like.
txt2img_request parse_txt2img_request(std::string_view json);

/// The work a request asks for: width × height × batch_size × n_iter × steps, in millions.
double request_megapixel_steps(const txt2img_request& r);

/// Refuses a request whose request_megapixel_steps exceed `max_megapixel_steps` (a worker setting):
/// sdw::error(bad_request, "", "too much work for one request: width 512 x height 512 x batch_size 64
/// x n_iter 100 x steps 150 = 251659 megapixel-steps, more than ...").
void check_request_work(const txt2img_request& r, double max_megapixel_steps);

/// The `parameters` echo of the response: every request field after defaults, in A1111's model
/// order, as A1111 returns it (`subseed_strength` stays the integer 0 when not given).
json_value to_parameters_json(const txt2img_request& r);

} // namespace sdw
