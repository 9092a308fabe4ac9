#include "runtime/formats/a1111_response.hpp"

#include "runtime/base/json_writer.hpp"

#include <ctime>

namespace sdw {
namespace {

template <class T>
json_value list(const std::vector<T>& items) {
  json_array out;
  out.reserve(items.size());
  for (const auto& item : items) {
    if constexpr (std::is_same_v<T, std::int64_t>) {
      out.emplace_back(static_cast<long long>(item));
    } else {
      out.emplace_back(item);
    }
  }
  return json_value(std::move(out));
}

template <class T>
json_value optional(const std::optional<T>& v) {
  return v ? json_value(*v) : json_value();
}

bool is_plain_base64(const std::string& s) {
  for (char c : s) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
                    c == '/' || c == '=';
    if (!ok) return false;
  }
  return true;
}

} // namespace

std::string make_info_json(const processed_info& in) {
  json_value o = json_value::object();
  auto& m = o.as_object();
  m.emplace_back("prompt", in.all_prompts.empty() ? std::string() : in.all_prompts.front());
  m.emplace_back("all_prompts", list(in.all_prompts));
  m.emplace_back("negative_prompt", in.all_negative_prompts.empty() ? std::string() : in.all_negative_prompts.front());
  m.emplace_back("all_negative_prompts", list(in.all_negative_prompts));
  m.emplace_back("seed", static_cast<long long>(in.seed));
  m.emplace_back("all_seeds", list(in.all_seeds));
  m.emplace_back("subseed", static_cast<long long>(in.subseed));
  m.emplace_back("all_subseeds", list(in.all_subseeds));
  m.emplace_back("subseed_strength", in.subseed_strength);
  m.emplace_back("width", in.width);
  m.emplace_back("height", in.height);
  m.emplace_back("sampler_name", in.sampler_name);
  m.emplace_back("cfg_scale", in.cfg_scale);
  m.emplace_back("steps", in.steps);
  m.emplace_back("batch_size", in.batch_size);
  m.emplace_back("restore_faces", in.restore_faces);
  m.emplace_back("face_restoration_model", optional(in.face_restoration_model));
  m.emplace_back("sd_model_name", optional(in.sd_model_name));
  m.emplace_back("sd_model_hash", optional(in.sd_model_hash));
  m.emplace_back("sd_vae_name", optional(in.sd_vae_name));
  m.emplace_back("sd_vae_hash", optional(in.sd_vae_hash));
  m.emplace_back("seed_resize_from_w", in.seed_resize_from_w);
  m.emplace_back("seed_resize_from_h", in.seed_resize_from_h);
  m.emplace_back("denoising_strength", optional(in.denoising_strength));
  m.emplace_back("extra_generation_params", json_value(in.extra_generation_params));
  m.emplace_back("index_of_first_image", in.index_of_first_image);
  m.emplace_back("infotexts", list(in.infotexts));
  m.emplace_back("styles", list(in.styles));
  m.emplace_back("job_timestamp", in.job_timestamp);
  m.emplace_back("clip_skip", in.clip_skip);
  m.emplace_back("is_using_inpainting_conditioning", in.is_using_inpainting_conditioning);
  m.emplace_back("version", optional(in.version));
  return to_json(o, json_style::python);
}

std::string make_txt2img_response(const std::vector<std::string>& png_base64, const json_value& parameters,
                                  const std::string& info) {
  // Images are megabytes of base64, which never needs escaping: copy them once, straight in.
  std::size_t size = 64 + info.size();
  for (const auto& image : png_base64) size += image.size() + 3;
  std::string out;
  out.reserve(size);
  out += "{\"images\":[";
  for (std::size_t i = 0; i < png_base64.size(); ++i) {
    if (i > 0) out += ',';
    if (is_plain_base64(png_base64[i])) {
      out += '"';
      out += png_base64[i];
      out += '"';
    } else {
      out += json_quote(png_base64[i], false);
    }
  }
  out += "],\"parameters\":";
  out += to_json(parameters, json_style::compact);
  out += ",\"info\":";
  out += json_quote(info, false);
  out += '}';
  return out;
}

std::string job_timestamp_now() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d%H%M%S", &local);
  return buf;
}

} // namespace sdw
