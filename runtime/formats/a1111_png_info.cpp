#include "runtime/formats/a1111_png_info.hpp"

#include "runtime/base/encoding.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/base/png_codec.hpp"
#include "runtime/formats/a1111_samplers.hpp"
#include "runtime/formats/infotext.hpp"
#include "runtime/formats/request_fields.hpp"

#include <algorithm>
#include <cctype>
#include <optional>

namespace sdw {
namespace {

/// image.info keys read_info_from_image drops (images.IGNORED_INFO_KEYS).
const char* const ignored_info_keys[] = {"jfif",    "jfif_version", "jfif_unit",   "jfif_density", "dpi",
                                         "exif",    "loop",         "background",  "timestamp",    "duration",
                                         "progressive", "progression", "icc_profile", "chromaticity", "photoshop"};

const json_value* member(const json_object& o, const std::string& key) {
  for (const auto& [k, v] : o) {
    if (k == key) {
      return &v;
    }
  }
  return nullptr;
}

std::string lower(std::string s) {
  for (char& c : s) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}

/// A NovelAI image's parameters as A1111 rewrites them into an infotext; false when its Comment
/// is not the JSON A1111 expects (A1111 logs that and keeps what it had).
bool novelai_infotext(const json_object& items, int width, int height, std::string& out) {
  const json_value* comment = member(items, "Comment");
  const json_value* description = member(items, "Description");
  if (comment == nullptr || description == nullptr) {
    return false;
  }
  json_value info;
  try {
    info = parse_json(comment->as_string(), "Comment");
  } catch (const std::exception&) {
    return false;
  }
  const json_value* sampler = info.find("sampler");
  const json_value* uc = info.find("uc");
  const json_value* steps = info.find("steps");
  const json_value* scale = info.find("scale");
  const json_value* seed = info.find("seed");
  if (sampler == nullptr || uc == nullptr || steps == nullptr || scale == nullptr || seed == nullptr) {
    return false;
  }
  // sd_samplers.samplers_map: lower-case names and aliases.
  std::string sampler_name = "Euler a";
  if (sampler->is_string()) {
    for (const auto& s : all_samplers()) {
      bool hit = lower(s.name) == sampler->as_string();
      for (const auto& a : s.aliases) {
        hit = hit || lower(a) == sampler->as_string();
      }
      if (hit) {
        sampler_name = s.name;
      }
    }
  }
  out = description->as_string() + "\nNegative prompt: " + python_str(*uc) + "\nSteps: " + python_str(*steps) +
        ", Sampler: " + sampler_name + ", CFG scale: " + python_str(*scale) + ", Seed: " + python_str(*seed) +
        ", Size: " + std::to_string(width) + "x" + std::to_string(height) + ", Clip skip: 2, ENSD: 31337";
  return true;
}

} // namespace

image_text_info read_image_text_info(const std::map<std::string, std::string>& text_chunks, int width, int height) {
  image_text_info out;
  std::optional<std::string> geninfo;
  for (const auto& [key, value] : text_chunks) {
    if (key == "parameters") {
      geninfo = value;
    } else {
      out.items.emplace_back(key, value);
    }
  }
  auto erase = [&out](const std::string& key) {
    out.items.erase(std::remove_if(out.items.begin(), out.items.end(), [&](const json_member& m) { return m.first == key; }),
                    out.items.end());
  };
  if (member(out.items, "exif") != nullptr) {
    // A text chunk named "exif" is no EXIF block A1111 can read: it is dropped, nothing taken from it.
    erase("exif");
  } else if (const json_value* comment = member(out.items, "comment")) {
    geninfo = comment->as_string();  // GIF-style comment; it stays among the items
  }
  for (const char* key : ignored_info_keys) {
    erase(key);
  }
  const json_value* software = member(out.items, "Software");
  if (software != nullptr && software->as_string() == "NovelAI") {
    std::string text;
    if (novelai_infotext(out.items, width, height, text)) {
      geninfo = text;
    }
  }
  out.info = geninfo.value_or("");
  return out;
}

namespace {

/// `name` of "name(1a2b)" as re_network_name = (.*)\s*\([0-9a-fA-F]+\) matches it (greedy, on one line).
std::string addnet_model_name(const std::string& name) {
  auto hex_group_at = [&name](size_t j) {
    while (j < name.size() && std::isspace(static_cast<unsigned char>(name[j]))) {
      ++j;
    }
    if (j >= name.size() || name[j] != '(') {
      return false;
    }
    size_t k = j + 1;
    while (k < name.size() && std::isxdigit(static_cast<unsigned char>(name[k]))) {
      ++k;
    }
    return k > j + 1 && k < name.size() && name[k] == ')';
  };
  const size_t line_end = std::min(name.find('\n'), name.size());
  for (size_t i = line_end + 1; i-- > 0;) {
    if (hex_group_at(i)) {
      return name.substr(0, i);
    }
  }
  return name;
}

/// The `image` of a PNGInfoRequest / InterrogateRequest body, as pydantic v1 checks a str field;
/// nothing when the field is absent and optional.
std::optional<std::string> string_field(const json_value& body, const std::string& field, bool required) {
  const json_value* v = body.find(field);
  if (v == nullptr) {
    if (required) {
      throw error(errc::bad_request, field, "field required");
    }
    return std::nullopt;
  }
  if (v->is_null()) {
    throw error(errc::bad_request, field, "none is not an allowed value");
  }
  return coerce_str(*v, field);
}

json_value body_object(std::string_view body) {
  json_value parsed = parse_json(body, "body");
  if (!parsed.is_object()) {
    throw error(errc::bad_request, "body", "value is not a valid dict");
  }
  return parsed;
}

/// The name of an image format A1111 reads but png-info here does not, from its first bytes.
const char* other_image_format(const std::string& bytes) {
  auto starts = [&bytes](std::string_view magic, size_t at = 0) {
    return bytes.size() >= at + magic.size() && bytes.compare(at, magic.size(), magic) == 0;
  };
  if (starts("\xFF\xD8\xFF")) return "JPEG";
  if (starts("RIFF") && starts("WEBP", 8)) return "WebP";
  if (starts("GIF87a") || starts("GIF89a")) return "GIF";
  if (starts("BM")) return "BMP";
  if (starts(std::string_view("II*\0", 4)) || starts(std::string_view("MM\0*", 4))) return "TIFF";
  if (starts("ftypavif", 4) || starts("ftypheic", 4) || starts("ftypmif1", 4)) return "AVIF/HEIF";
  return nullptr;
}

/// FastAPI's reading of a body that is absent or only whitespace: no body at all.
bool blank(std::string_view body) { return body.find_first_not_of(" \t\r\n") == std::string_view::npos; }

http_answer invalid_image(const std::string& why) {
  return a1111_http_exception(500, "Invalid encoded image (image: " + why + ")");
}

} // namespace

infotext_parse_options png_info_options(std::string_view options_json) {
  infotext_parse_options o;
  json_value options;
  try {
    options = parse_json(options_json, "options");
  } catch (const std::exception&) {
    return o;
  }
  if (const json_value* v = options.find("infotext_styles"); v != nullptr && v->is_string()) {
    o.infotext_styles = v->as_string();
  }
  if (const json_value* v = options.find("infotext_skip_pasting"); v != nullptr && v->is_array()) {
    for (const auto& key : v->as_array()) {
      if (key.is_string()) {
        o.infotext_skip_pasting.push_back(key.as_string());
      }
    }
  }
  if (const json_value* v = options.find("auto_backcompat"); v != nullptr && v->is_bool()) {
    o.auto_backcompat = v->as_bool();
  }
  if (const json_value* v = options.find("use_old_hires_fix_width_height"); v != nullptr && v->is_bool()) {
    o.use_old_hires_fix_width_height = v->as_bool();
  }
  return o;
}

void apply_addnet_infotext(json_value& parameters) {
  std::string added;
  auto text = [&parameters](const std::string& key) -> const std::string* {
    const json_value* v = parameters.find(key);
    return v != nullptr && v->is_string() ? &v->as_string() : nullptr;
  };
  for (const auto& [key, value] : parameters.as_object()) {
    const std::string prefix = "AddNet Model ";
    if (key.rfind(prefix, 0) != 0 || !value.is_string()) {
      continue;
    }
    const std::string num = key.substr(prefix.size());
    const std::string* module = text("AddNet Module " + num);
    if (module == nullptr || *module != "LoRA") {
      continue;
    }
    const std::string* weight = text("AddNet Weight A " + num);
    added += "<lora:" + addnet_model_name(value.as_string()) + ":" + (weight ? *weight : "1.0") + ">";
  }
  if (!added.empty()) {
    const std::string* prompt = text("Prompt");
    parameters.set("Prompt", (prompt ? *prompt : "") + "\n" + added);
  }
}

http_answer png_info_answer(std::string_view body, const infotext_parse_options& options) {
  if (blank(body)) {
    return a1111_error_answer(errc::bad_request, "body", "field required");
  }
  std::string image;
  try {
    image = python_strip(*string_field(body_object(body), "image", true));
  } catch (const error& e) {
    return a1111_error_answer(e.code(), e.where(), e.message());
  }
  if (image.rfind("http://", 0) == 0 || image.rfind("https://", 0) == 0) {
    return a1111_http_exception(500, "Requests not allowed: sdworker does not download images; send `image` as base64");
  }
  std::string bytes;
  decoded_png png;
  try {
    bytes = base64_decode(image, "image");
  } catch (const error& e) {
    return invalid_image(e.message());
  }
  if (const char* format = other_image_format(bytes)) {
    return a1111_http_exception(
      422, std::string("image: ") + format + " images are not read yet; png-info reads the text chunks of PNG images");
  }
  try {
    // PIL's Image.open refuses a decompression bomb (over twice its pixel limit) from the header.
    png = decode_png(bytes, "image", [](int w, int h) {
      constexpr long long bomb = 2LL * 89478485;
      if (static_cast<long long>(w) * h > bomb) {
        throw error(errc::bad_request, "image",
                    "Image size (" + std::to_string(static_cast<long long>(w) * h) + " pixels) exceeds limit of " +
                      std::to_string(bomb) + " pixels, could be decompression bomb DOS attack.");
      }
    });
  } catch (const error& e) {
    return invalid_image(bytes.empty() ? "no data" : e.message());
  }
  const image_text_info info = read_image_text_info(png.text, png.width, png.height);
  json_value parameters = parse_generation_parameters(info.info, options);
  apply_addnet_infotext(parameters);
  json_value answer = json_value::object();
  answer.set("info", info.info);
  answer.set("items", json_value(info.items));
  answer.set("parameters", std::move(parameters));
  return {200, to_json(answer)};
}

http_answer interrogate_answer(std::string_view body) {
  if (blank(body)) {
    return a1111_error_answer(errc::bad_request, "body", "field required");
  }
  std::string model = "clip";
  try {
    const json_value request = body_object(body);
    string_field(request, "image", false);
    model = string_field(request, "model", false).value_or("clip");
  } catch (const error& e) {
    return a1111_error_answer(e.code(), e.where(), e.message());
  }
  return a1111_http_exception(404, "Model not found: no interrogator ships with sdworker (asked for '" + model + "')");
}

} // namespace sdw
