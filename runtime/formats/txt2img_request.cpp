#include "runtime/formats/txt2img_request.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/formats/request_fields.hpp"
#include "runtime/formats/a1111_listings.hpp"
#include "runtime/formats/a1111_scripts.hpp"
#include "runtime/image/image_decode.hpp"
#include "runtime/image/model_upscalers.hpp"
#include "runtime/image/resample.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>

namespace sdw {
namespace {

using request = txt2img_request;

// Parsers for one field kind, given the member; a JSON null never reaches them (null = default).
template <auto M>
void as_int(request& r, const json_value& v, const std::string& n) { r.*M = coerce_int32(v, n); }
// Ranged ints are checked on the 64-bit value, so 1e12 steps reads "must be from 1 to 150".
template <auto M, long long lo, long long hi>
void as_int_in(request& r, const json_value& v, const std::string& n) {
  const std::int64_t i = coerce_int(v, n);
  if (i < lo || i > hi)
    throw error(errc::bad_request, n,
                "must be from " + std::to_string(lo) + " to " + std::to_string(hi) + ", got " + std::to_string(i));
  r.*M = static_cast<int>(i);
}
template <auto M>
void as_image_side(request& r, const json_value& v, const std::string& n) {
  const std::int64_t i = coerce_int(v, n);
  if (i < 64 || i > 2048 || i % 8 != 0)
    throw error(errc::bad_request, n, "must be a multiple of 8 from 64 to 2048, got " + std::to_string(i));
  r.*M = static_cast<int>(i);
}
// A1111 resizes the seed's noise only when both sides are positive; a positive side then obeys
// the image side rule, since the noise is drawn at that size.
template <auto M>
void as_seed_resize_side(request& r, const json_value& v, const std::string& n) {
  const std::int64_t i = coerce_int(v, n);
  if (i < std::numeric_limits<int>::min() || (i > 0 && (i < 64 || i > 2048 || i % 8 != 0)))
    throw error(errc::bad_request, n,
                "must be 0 or less (no seed resize) or a multiple of 8 from 64 to 2048, got " + std::to_string(i));
  r.*M = static_cast<int>(i);
}
template <auto M>
void as_int64(request& r, const json_value& v, const std::string& n) { r.*M = coerce_int(v, n); }
template <auto M>
void as_float(request& r, const json_value& v, const std::string& n) { r.*M = coerce_float(v, n); }
template <auto M>
void as_bool(request& r, const json_value& v, const std::string& n) { r.*M = coerce_bool(v, n); }
template <auto M>
void as_str(request& r, const json_value& v, const std::string& n) { r.*M = coerce_str(v, n); }
template <auto M>
void as_str_list(request& r, const json_value& v, const std::string& n) { r.*M = coerce_str_list(v, n); }
template <auto M>
void as_dict(request& r, const json_value& v, const std::string& n) { r.*M = coerce_dict(v, n); }
template <auto M>
void as_list(request& r, const json_value& v, const std::string& n) { r.*M = coerce_list(v, n); }

json_value to_value(const std::string& s) { return json_value(s); }
json_value to_value(int i) { return json_value(i); }
json_value to_value(std::int64_t i) { return json_value(static_cast<long long>(i)); }
json_value to_value(double d) { return json_value(d); }
json_value to_value(bool b) { return json_value(b); }
json_value to_value(const json_object& o) { return json_value(o); }
json_value to_value(const json_array& a) { return json_value(a); }
json_value to_value(const std::vector<std::string>& items) {
  json_array a;
  for (const auto& s : items) a.emplace_back(s);
  return json_value(std::move(a));
}
template <class T>
json_value to_value(const std::optional<T>& v) {
  return v ? to_value(*v) : json_value();
}

template <auto M>
json_value echo(const request& r) { return to_value(r.*M); }

// Pydantic leaves an omitted default unvalidated, so A1111 echoes the dataclass's integer 0 here.
json_value echo_subseed_strength(const request& r) {
  if (!r.is_set("subseed_strength") && r.subseed_strength == 0) return json_value(0);
  return json_value(r.subseed_strength);
}

// The images are decoded here, at the edge, so a bad one is refused before the job queues.
void as_init_images(request& r, const json_value& v, const std::string& n) {
  std::vector<std::string> texts = coerce_str_list(v, n);
  r.init_images.clear();
  for (std::size_t i = 0; i < texts.size(); ++i) {
    r.init_images.push_back(decode_base64_image(texts[i], n + "." + std::to_string(i)));
  }
  r.init_images_text = std::move(texts);
}
void as_mask(request& r, const json_value& v, const std::string& n) {
  r.mask = coerce_str(v, n);
  // A1111 decodes a mask only when the string is non-empty.
  if (!r.mask->empty()) r.mask_image = decode_base64_image(*r.mask, n);
}
json_value echo_init_images(const request& r) {
  return r.include_init_images ? to_value(r.init_images_text) : json_value();
}
json_value echo_mask(const request& r) { return r.include_init_images ? to_value(r.mask) : json_value(); }
json_value echo_denoising_strength(const request& r) {
  if (r.kind == request_kind::img2img && !r.denoising_strength) return json_value(0.75);
  return to_value(r.denoising_strength);
}

constexpr unsigned for_txt2img = 1, for_img2img = 2, for_both = 3;

struct field_spec {
  const char* name;
  void (*parse)(request&, const json_value&, const std::string&);
  json_value (*echo)(const request&);
  unsigned kinds = for_both;
};

#define SDW_FIELD(kind, member) {#member, &kind<&request::member>, &echo<&request::member>}
#define SDW_FIELD_OF(kind, member, kinds) {#member, &kind<&request::member>, &echo<&request::member>, kinds}

// A1111's model orders, both at once: the processing base class fields, then txt2img's own or
// img2img's own, then the API extras (`include_init_images` is img2img's).
const field_spec fields[] = {
    SDW_FIELD(as_str, prompt),
    SDW_FIELD(as_str, negative_prompt),
    SDW_FIELD(as_str_list, styles),
    SDW_FIELD(as_int64, seed),
    SDW_FIELD(as_int64, subseed),
    {"subseed_strength", &as_float<&request::subseed_strength>, &echo_subseed_strength},
    SDW_FIELD(as_seed_resize_side, seed_resize_from_h),
    SDW_FIELD(as_seed_resize_side, seed_resize_from_w),
    SDW_FIELD(as_str, sampler_name),
    SDW_FIELD(as_str, scheduler),
    {"batch_size", &as_int_in<&request::batch_size, 1, 64>, &echo<&request::batch_size>},
    {"n_iter", &as_int_in<&request::n_iter, 1, 100>, &echo<&request::n_iter>},
    {"steps", &as_int_in<&request::steps, 1, 150>, &echo<&request::steps>},
    SDW_FIELD(as_float, cfg_scale),
    SDW_FIELD(as_image_side, width),
    SDW_FIELD(as_image_side, height),
    SDW_FIELD(as_bool, restore_faces),
    SDW_FIELD(as_bool, tiling),
    SDW_FIELD(as_bool, do_not_save_samples),
    SDW_FIELD(as_bool, do_not_save_grid),
    SDW_FIELD(as_float, eta),
    {"denoising_strength", &as_float<&request::denoising_strength>, &echo_denoising_strength},
    SDW_FIELD(as_float, s_min_uncond),
    SDW_FIELD(as_float, s_churn),
    SDW_FIELD(as_float, s_tmax),
    SDW_FIELD(as_float, s_tmin),
    SDW_FIELD(as_float, s_noise),
    SDW_FIELD(as_dict, override_settings),
    SDW_FIELD(as_bool, override_settings_restore_afterwards),
    SDW_FIELD(as_str, refiner_checkpoint),
    SDW_FIELD(as_float, refiner_switch_at),
    SDW_FIELD(as_bool, disable_extra_networks),
    SDW_FIELD(as_str, firstpass_image),
    SDW_FIELD(as_dict, comments),
    SDW_FIELD_OF(as_bool, enable_hr, for_txt2img),
    {"firstphase_width", &as_int_in<&request::firstphase_width, 0, 2048>, &echo<&request::firstphase_width>, for_txt2img},
    {"firstphase_height", &as_int_in<&request::firstphase_height, 0, 2048>, &echo<&request::firstphase_height>, for_txt2img},
    SDW_FIELD_OF(as_float, hr_scale, for_txt2img),
    SDW_FIELD_OF(as_str, hr_upscaler, for_txt2img),
    {"hr_second_pass_steps", &as_int_in<&request::hr_second_pass_steps, 0, 150>, &echo<&request::hr_second_pass_steps>, for_txt2img},
    {"hr_resize_x", &as_int_in<&request::hr_resize_x, 0, 2048>, &echo<&request::hr_resize_x>, for_txt2img},
    {"hr_resize_y", &as_int_in<&request::hr_resize_y, 0, 2048>, &echo<&request::hr_resize_y>, for_txt2img},
    SDW_FIELD_OF(as_str, hr_checkpoint_name, for_txt2img),
    SDW_FIELD_OF(as_str, hr_sampler_name, for_txt2img),
    SDW_FIELD_OF(as_str, hr_scheduler, for_txt2img),
    SDW_FIELD_OF(as_str, hr_prompt, for_txt2img),
    SDW_FIELD_OF(as_str, hr_negative_prompt, for_txt2img),
    {"init_images", &as_init_images, &echo_init_images, for_img2img},
    {"resize_mode", &as_int_in<&request::resize_mode, 0, 3>, &echo<&request::resize_mode>, for_img2img},
    SDW_FIELD_OF(as_float, image_cfg_scale, for_img2img),
    {"mask", &as_mask, &echo_mask, for_img2img},
    {"mask_blur_x", &as_int_in<&request::mask_blur_x, 0, 64>, &echo<&request::mask_blur_x>, for_img2img},
    {"mask_blur_y", &as_int_in<&request::mask_blur_y, 0, 64>, &echo<&request::mask_blur_y>, for_img2img},
    // mask_blur sets both sides, so it has their range.
    {"mask_blur", &as_int_in<&request::mask_blur, 0, 64>, &echo<&request::mask_blur>, for_img2img},
    SDW_FIELD_OF(as_bool, mask_round, for_img2img),
    {"inpainting_fill", &as_int_in<&request::inpainting_fill, 0, 3>, &echo<&request::inpainting_fill>, for_img2img},
    SDW_FIELD_OF(as_bool, inpaint_full_res, for_img2img),
    {"inpaint_full_res_padding", &as_int_in<&request::inpaint_full_res_padding, 0, 256>,
     &echo<&request::inpaint_full_res_padding>, for_img2img},
    SDW_FIELD_OF(as_int, inpainting_mask_invert, for_img2img),
    SDW_FIELD_OF(as_float, initial_noise_multiplier, for_img2img),
    SDW_FIELD_OF(as_str, latent_mask, for_img2img),
    SDW_FIELD(as_str, force_task_id),
    SDW_FIELD(as_str, sampler_index),
    SDW_FIELD_OF(as_bool, include_init_images, for_img2img),
    SDW_FIELD(as_str, script_name),
    SDW_FIELD(as_list, script_args),
    SDW_FIELD(as_bool, send_images),
    SDW_FIELD(as_bool, save_images),
    SDW_FIELD(as_dict, alwayson_scripts),
    SDW_FIELD(as_str, infotext),
};

#undef SDW_FIELD
#undef SDW_FIELD_OF

unsigned bit_of(request_kind kind) { return kind == request_kind::img2img ? for_img2img : for_txt2img; }

const field_spec* find_field(std::string_view name, request_kind kind) {
  for (const auto& f : fields) {
    if (name == f.name && (f.kinds & bit_of(kind)) != 0) return &f;
  }
  return nullptr;
}

// Numbers out of these ranges make no image worth the work (NaN or blown-out latents); the ranges
// hold every value A1111's own sliders offer.
void check_range(const char* field, double value, double lo, double hi) {
  if (std::isnan(value) || (!std::isfinite(value) && hi != HUGE_VAL))
    throw error(errc::bad_request, field, "must be a finite number");
  if (value < lo || value > hi)
    throw error(errc::bad_request, field,
                "must be from " + python_float_repr(lo) + " to " + python_float_repr(hi) + ", got " +
                  python_float_repr(value));
}

void check_range(const char* field, const std::optional<double>& value, double lo, double hi) {
  if (value) check_range(field, *value, lo, hi);
}

void check_text(const char* field, const std::string& text) {
  const std::size_t n = utf8_length(text);
  if (n > 20000)
    throw error(errc::bad_request, field, "is too long: " + std::to_string(n) + " characters, at most 20000");
}

// Hires fix needs its strength (A1111 fails without it) and an upscaler this worker has.
void check_hires(const request& r) {
  if (!r.denoising_strength)
    throw error(errc::bad_request, "denoising_strength", "is required with enable_hr (the second pass's strength)");
  const std::string upscaler = r.hr_upscaler.value_or("Latent");
  const auto& latent = latent_upscale_modes();
  if (std::find(latent.begin(), latent.end(), upscaler) == latent.end()) check_upscaler_name("hr_upscaler", upscaler);
  const bool any = r.firstphase_width > 0 || r.firstphase_height > 0;
  const auto side_ok = [](int v) { return v >= 64 && v % 8 == 0; };
  if (any && !(side_ok(r.firstphase_width) && side_ok(r.firstphase_height)))
    throw error(errc::bad_request, side_ok(r.firstphase_width) ? "firstphase_height" : "firstphase_width",
                "firstphase_width and firstphase_height go together, as multiples of 8 from 64");
}

void validate(const request& r) {
  check_text("prompt", r.prompt);
  check_text("negative_prompt", r.negative_prompt);
  check_range("cfg_scale", r.cfg_scale, 0, 100);
  check_range("subseed_strength", r.subseed_strength, 0, 1);
  check_range("eta", r.eta, 0, 1);
  check_range("denoising_strength", r.denoising_strength, 0, 1);
  check_range("s_min_uncond", r.s_min_uncond, 0, 100);
  check_range("s_churn", r.s_churn, 0, 100);
  check_range("s_tmin", r.s_tmin, 0, 1000);
  // s_tmax may be inf: A1111 passes it on and 0 already means "no limit".
  check_range("s_tmax", r.s_tmax, 0, HUGE_VAL);
  check_range("s_noise", r.s_noise, 0, 10);
  check_range("hr_scale", r.hr_scale, 0, 8);
  check_range("refiner_switch_at", r.refiner_switch_at, 0, 1);
  if (r.kind == request_kind::txt2img && r.enable_hr) check_hires(r);
  if (r.kind != request_kind::img2img) return;
  check_range("image_cfg_scale", r.image_cfg_scale, 0, 100);
  check_range("initial_noise_multiplier", r.initial_noise_multiplier, 0, 10);
  if (!r.init_images_text) throw error(errc::not_found, "init_images", "Init image not found");
  const auto n = r.init_images.size();
  if (n == 0) throw error(errc::bad_request, "init_images", "at least one image is required");
  // A1111 repeats one image over the batch, or takes up to batch_size images as the batch.
  if (n > 1 && n > static_cast<std::size_t>(r.batch_size))
    throw error(errc::bad_request, "init_images",
                "bad number of images passed: " + std::to_string(n) + "; expecting " + std::to_string(r.batch_size) +
                  " or less");
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

} // namespace

bool txt2img_request::is_set(std::string_view field) const {
  return std::find(fields_set.begin(), fields_set.end(), field) != fields_set.end();
}

const std::string& txt2img_request::effective_sampler_name() const {
  return sampler_name && !sampler_name->empty() ? *sampler_name : sampler_index;
}

std::string a1111_call_path(const std::string& endpoint) {
  std::string path = lower(endpoint);
  const auto first = path.find_first_not_of('/');
  path = first == std::string::npos ? "" : path.substr(first);
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (path.rfind("sdapi/", 0) != 0) path.insert(0, "sdapi/v1/");
  return "/" + path;
}

bool is_generation_call(const a1111_call& call) {
  return call.method == "POST" && (call.endpoint == route_of(request_kind::txt2img) ||
                                   call.endpoint == route_of(request_kind::img2img));
}

a1111_call unwrap_a1111_call(json_value document) {
  if (!document.is_object()) throw error(errc::bad_request, "body", "value is not a valid dict");
  a1111_call call;
  const json_value* input = document.find("input");
  if (!input) {
    call.payload = std::move(document);
    return call;
  }
  if (!input->is_object()) throw error(errc::bad_request, "input", "value is not a valid dict");
  const json_value* api = input->find("api");
  if (!api) {
    call.payload = *input;
    return call;
  }
  if (!api->is_object()) throw error(errc::bad_request, "input.api", "value is not a valid dict");
  if (const json_value* method = api->find("method"); method && !method->is_null()) {
    if (!method->is_string()) throw error(errc::bad_request, "input.api.method", "str type expected");
    call.method = method->as_string();
    for (auto& c : call.method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  const json_value* endpoint = api->find("endpoint");
  if (!endpoint || endpoint->is_null()) throw error(errc::bad_request, "input.api.endpoint", "field required");
  if (!endpoint->is_string()) throw error(errc::bad_request, "input.api.endpoint", "str type expected");
  call.endpoint = a1111_call_path(endpoint->as_string());
  const json_value* payload = input->find("payload");
  if (!payload || payload->is_null()) {
    call.payload = json_value::object();
  } else if (!payload->is_object()) {
    throw error(errc::bad_request, "input.payload", "value is not a valid dict");
  } else {
    call.payload = *payload;
  }
  return call;
}

const char* route_of(request_kind kind) {
  return kind == request_kind::img2img ? "/sdapi/v1/img2img" : "/sdapi/v1/txt2img";
}

txt2img_request txt2img_request_from_json(const json_value& body, request_kind kind) {
  if (!body.is_object()) throw error(errc::bad_request, "body", "value is not a valid dict");
  request r;
  r.kind = kind;
  for (const auto& [key, value] : body.as_object()) {
    const field_spec* f = find_field(key, kind);
    if (!f) continue;  // A1111 ignores unknown keys.
    r.fields_set.push_back(key);
    if (value.is_null()) continue;
    f->parse(r, value, key);
  }
  if (r.mask_blur) r.mask_blur_x = r.mask_blur_y = *r.mask_blur;
  validate(r);
  check_request_scripts(r);
  if (!r.include_init_images) {
    // Only the echo reads the texts; the decoded images are what the job keeps.
    r.init_images_text.reset();
    r.mask.reset();
  }
  return r;
}

txt2img_request generation_request_from_call(const a1111_call& call) {
  const std::string endpoint = a1111_call_path(call.endpoint);
  for (request_kind kind : {request_kind::txt2img, request_kind::img2img}) {
    if (call.method == "POST" && endpoint == route_of(kind)) return txt2img_request_from_json(call.payload, kind);
  }
  throw error(errc::unsupported, "input.api.endpoint",
              call.method + " " + call.endpoint +
                " is not supported yet; POST /sdapi/v1/txt2img and POST /sdapi/v1/img2img are");
}

txt2img_request parse_txt2img_request(std::string_view json) {
  if (json.find_first_not_of(" \t\r\n") == std::string_view::npos)
    throw error(errc::bad_request, "body", "field required");
  return generation_request_from_call(unwrap_a1111_call(parse_json(json, "body")));
}

double request_megapixel_steps(const txt2img_request& r) {
  if (is_sd_upscale(r)) {
    // Each upscale runs img2img over all tiles in batches of batch_size (at most: only a last batch
    // of one tile is repeated to batch_size).
    const int tiles = sd_upscale_tile_count(r, sd_upscale_args_of(r));
    const int batches = (tiles + r.batch_size - 1) / r.batch_size;
    return double(r.width) * r.height * r.steps * batches * r.batch_size * r.n_iter / 1e6;
  }
  double work = double(r.width) * r.height * r.steps;
  if (r.kind == request_kind::txt2img && r.enable_hr) {
    // The second pass at its target size (hr_scale, or the larger of the resize sides).
    const double scale = r.hr_resize_x == 0 && r.hr_resize_y == 0
                             ? r.hr_scale
                             : std::max(double(r.hr_resize_x) / r.width, double(r.hr_resize_y) / r.height);
    work += double(r.width) * r.height * scale * scale * (r.hr_second_pass_steps > 0 ? r.hr_second_pass_steps : r.steps);
  }
  return work * r.batch_size * r.n_iter / 1e6;
}

void check_request_work(const txt2img_request& r, double max_megapixel_steps) {
  const double work = request_megapixel_steps(r);
  if (work <= max_megapixel_steps) return;
  const auto whole = [](double x) { return std::to_string(static_cast<long long>(std::ceil(x))); };
  throw error(errc::bad_request, "",
              "too much work for one request: width " + std::to_string(r.width) + " x height " +
                std::to_string(r.height) + " x batch_size " + std::to_string(r.batch_size) + " x n_iter " +
                std::to_string(r.n_iter) + " x steps " + std::to_string(r.steps) + " = " + whole(work) +
                " megapixel-steps, more than this worker's limit of " + whole(max_megapixel_steps) +
                "; ask for fewer or smaller images or fewer steps");
}

json_value to_parameters_json(const txt2img_request& r) {
  json_value out = json_value::object();
  for (const auto& f : fields) {
    if ((f.kinds & bit_of(r.kind)) != 0) out.as_object().emplace_back(f.name, f.echo(r));
  }
  return out;
}

} // namespace sdw
