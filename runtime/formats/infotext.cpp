#include "runtime/formats/infotext.hpp"

#include "runtime/base/json_writer.hpp"

namespace sdw {
namespace {

using entry = std::pair<std::string, std::optional<std::string>>;

// Python dict assignment: an existing key keeps its place and takes the new value.
void assign(std::vector<entry>& params, const std::string& key, std::optional<std::string> value) {
  for (auto& [k, v] : params) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  params.emplace_back(key, std::move(value));
}

template <class T, class F>
std::optional<std::string> map(const std::optional<T>& v, F&& f) {
  if (!v) return std::nullopt;
  return f(*v);
}

std::string size_text(int w, int h) { return std::to_string(w) + "x" + std::to_string(h); }

// Length in bytes of a Python whitespace character at s[i], or 0.
std::size_t space_at(const std::string& s, std::size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  if (b == ' ' || (b >= 0x09 && b <= 0x0D) || (b >= 0x1C && b <= 0x1F)) return 1;
  auto cont = [&](std::size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0; };
  if (b == 0xC2 && (cont(1) == 0x85 || cont(1) == 0xA0)) return 2;
  if (b == 0xE1 && cont(1) == 0x9A && cont(2) == 0x80) return 3;  // U+1680
  if (b == 0xE2 && cont(1) == 0x80 && ((cont(2) >= 0x80 && cont(2) <= 0x8A) || cont(2) == 0xA8 || cont(2) == 0xA9 ||
                                       cont(2) == 0xAF))
    return 3;  // U+2000..200A, U+2028, U+2029, U+202F
  if (b == 0xE2 && cont(1) == 0x81 && cont(2) == 0x9F) return 3;  // U+205F
  if (b == 0xE3 && cont(1) == 0x80 && cont(2) == 0x80) return 3;  // U+3000
  return 0;
}

// The start of the UTF-8 character that ends just before position `end`.
std::size_t char_start_before(const std::string& s, std::size_t end) {
  std::size_t i = end - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  return i;
}

} // namespace

std::string python_strip(const std::string& s) {
  std::size_t begin = 0;
  while (begin < s.size()) {
    const std::size_t n = space_at(s, begin);
    if (n == 0) break;
    begin += n;
  }
  std::size_t end = s.size();
  while (end > begin) {
    const std::size_t start = char_start_before(s, end);
    if (start < begin || space_at(s, start) != end - start) break;
    end = start;
  }
  return s.substr(begin, end - begin);
}

std::string quote_infotext_value(const std::string& value) {
  if (value.find_first_of(",:\n") == std::string::npos) return value;
  return json_quote(value, false);
}

std::string create_infotext(const infotext_input& in) {
  auto fl = [](double d) { return python_float_repr(d); };
  auto str = [](const std::string& s) { return s; };
  const bool variation = in.subseed_strength != 0;

  std::vector<entry> params;
  assign(params, "Steps", std::to_string(in.steps));
  assign(params, "Sampler", in.sampler_name);
  assign(params, "Schedule type", in.schedule_type);
  assign(params, "CFG scale", fl(in.cfg_scale));
  assign(params, "Image CFG scale", map(in.image_cfg_scale, fl));
  assign(params, "Seed", std::to_string(in.seed));
  assign(params, "Face restoration", in.face_restoration);
  assign(params, "Size", size_text(in.width, in.height));
  assign(params, "Model hash", in.model_hash);
  assign(params, "Model", in.model_name);
  assign(params, "FP8 weight", std::nullopt);
  assign(params, "Cache FP16 weight for LoRA", std::nullopt);
  assign(params, "VAE hash", in.vae_hash);
  assign(params, "VAE", in.vae_name);
  assign(params, "Variation seed", variation ? std::optional<std::string>(std::to_string(in.subseed)) : std::nullopt);
  assign(params, "Variation seed strength", variation ? std::optional<std::string>(fl(in.subseed_strength)) : std::nullopt);
  assign(params, "Seed resize from",
         in.seed_resize_from_w > 0 && in.seed_resize_from_h > 0
             ? std::optional<std::string>(size_text(in.seed_resize_from_w, in.seed_resize_from_h))
             : std::nullopt);
  assign(params, "Denoising strength", map(in.denoising_strength, fl));
  assign(params, "Conditional mask weight", map(in.conditional_mask_weight, fl));
  assign(params, "Clip skip", in.clip_skip > 1 ? std::optional<std::string>(std::to_string(in.clip_skip)) : std::nullopt);
  assign(params, "ENSD", map(in.ensd, [](std::int64_t v) { return std::to_string(v); }));
  assign(params, "Token merging ratio", map(in.token_merging_ratio, fl));
  assign(params, "Token merging ratio hr", map(in.token_merging_ratio_hr, fl));
  assign(params, "Init image hash", map(in.init_image_hash, str));
  assign(params, "RNG", in.rng && *in.rng != "GPU" ? in.rng : std::nullopt);
  assign(params, "NGMS", in.s_min_uncond != 0 ? std::optional<std::string>(fl(in.s_min_uncond)) : std::nullopt);
  assign(params, "Tiling", in.tiling ? std::optional<std::string>("True") : std::nullopt);
  for (const auto& [key, value] : in.extra_params) assign(params, key, value);
  assign(params, "Version", in.version);
  assign(params, "User", in.user);

  std::string line;
  for (const auto& [key, value] : params) {
    if (!value) continue;
    if (!line.empty()) line += ", ";
    if (*value == key) {
      line += key;
    } else {
      line += key + ": " + quote_infotext_value(*value);
    }
  }
  std::string text = in.prompt;
  if (!in.negative_prompt.empty()) text += "\nNegative prompt: " + in.negative_prompt;
  text += "\n" + line;
  return python_strip(text);
}

} // namespace sdw
