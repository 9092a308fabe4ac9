#include "runtime/formats/a1111_extras.hpp"

#include "runtime/base/encoding.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/base/png_codec.hpp"
#include "runtime/formats/a1111_png_info.hpp"
#include "runtime/formats/infotext.hpp"
#include "runtime/formats/request_fields.hpp"
#include "runtime/image/image_decode.hpp"
#include "runtime/image/model_upscalers.hpp"
#include "runtime/image/resample.hpp"

#include <cmath>

namespace sdw {
namespace {

/// A present field's value; null is refused, as for pydantic's non-Optional fields.
const json_value* present(const json_value& body, const std::string& field) {
  const json_value* v = body.find(field);
  if (v != nullptr && v->is_null()) {
    throw error(errc::bad_request, field, "none is not an allowed value");
  }
  return v;
}

/// A float field with pydantic's ge/le (or gt) constraints; `finite` for allow_inf_nan=False.
double float_field(const json_value& v, const std::string& field, bool finite, double lo, bool lo_open, double hi) {
  const double d = coerce_float(v, field);
  if (finite && !std::isfinite(d)) {
    throw error(errc::bad_request, field, "ensure this value is a finite number");
  }
  const std::string lo_text = python_float_repr(lo) == "0.0" ? "0" : python_float_repr(lo);
  if (lo_open && !(d > lo)) {
    throw error(errc::bad_request, field, "ensure this value is greater than " + lo_text);
  }
  if (!lo_open && !(d >= lo)) {
    throw error(errc::bad_request, field, "ensure this value is greater than or equal to " + lo_text);
  }
  if (d > hi) {
    throw error(errc::bad_request, field, "ensure this value is less than or equal to 1");
  }
  return d;
}

double visibility(const json_value& body, const std::string& field, double fallback) {
  const json_value* v = present(body, field);
  return v == nullptr ? fallback : float_field(*v, field, true, 0, false, 1);
}

bool bool_field(const json_value& body, const std::string& field, bool fallback) {
  const json_value* v = present(body, field);
  return v == nullptr ? fallback : coerce_bool(*v, field);
}

int side_field(const json_value& body, const std::string& field) {
  const json_value* v = present(body, field);
  if (v == nullptr) {
    return 512;
  }
  const std::int64_t i = coerce_int(*v, field);
  if (i < 1) {
    throw error(errc::bad_request, field, "ensure this value is greater than or equal to 1");
  }
  // Sides past an int are past every image limit; the size check names them.
  return static_cast<int>(std::min<std::int64_t>(i, 1 << 30));
}

std::string str_field(const json_value& body, const std::string& field, const std::string& fallback) {
  const json_value* v = present(body, field);
  return v == nullptr ? fallback : coerce_str(*v, field);
}

/// A required str of a FileData item.
std::string file_data_field(const json_value& item, const std::string& field, const std::string& name) {
  const json_value* v = item.find(name);
  if (v == nullptr) {
    throw error(errc::bad_request, field + "." + name, "field required");
  }
  if (v->is_null()) {
    throw error(errc::bad_request, field + "." + name, "none is not an allowed value");
  }
  return coerce_str(*v, field + "." + name);
}

void check_upscaler(const std::string& field, const std::string& name) { check_upscaler_name(field, name); }

/// Refuses a result the decoder would refuse as input, or one with no pixels (PIL cannot make it).
void check_result_size(const extras_upscale_params& p, int width, int height) {
  const extras_upscale_plan plan = plan_extras_upscale(width, height, p);
  if (!plan.runs) {
    return;
  }
  const bool by_factor = p.mode == 0;
  // In mode 1 the side whose target sets the scale is at fault.
  const bool width_rules = static_cast<double>(p.to_width) / width >= static_cast<double>(p.to_height) / height;
  const std::string field = by_factor ? "upscaling_resize" : width_rules ? "upscaling_resize_w" : "upscaling_resize_h";
  const auto size = [](long long w, long long h) { return std::to_string(w) + "x" + std::to_string(h); };
  if (plan.upscaled_width <= 0 || plan.upscaled_height <= 0 || plan.pass_width <= 0 || plan.pass_height <= 0) {
    throw error(errc::bad_request, field,
                "the " + size(width, height) + " image upscaled " + (by_factor ? "by " + python_float_repr(p.upscale_by) : "to " + size(p.to_width, p.to_height)) +
                  " would have no pixels: the upscalers round each side down to a multiple of 8");
  }
  for (const auto& [w, h] : {std::pair<long long, long long>{plan.pass_width, plan.pass_height},
                             {plan.width, plan.height}}) {
    if (w > 16384 || h > 16384 || w * h > max_image_pixels) {
      throw error(errc::bad_request, field,
                  "image too large: upscaling the " + size(width, height) + " image makes " + size(w, h) +
                    " pixels, at most " + std::to_string(max_image_pixels) + " and 16384 on a side");
    }
  }
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#x27;"; break;
      default: out += c;
    }
  }
  return out;
}

http_answer invalid_image(const std::string& field, const std::string& why) {
  return a1111_http_exception(500, "Invalid encoded image (" + field + ": " + why + ")");
}

/// decode_base64_to_image: an optional `data:image/...;base64,` prefix (split at ';' then ','), then base64.
std::string image_bytes(const std::string& text, const std::string& field) {
  std::string_view payload = text;
  if (payload.rfind("data:image/", 0) == 0) {
    const auto semi = payload.find(';');
    if (semi != std::string_view::npos) payload.remove_prefix(semi + 1);
    const auto comma = payload.find(',');
    if (comma != std::string_view::npos) payload.remove_prefix(comma + 1);
  }
  return base64_decode(payload, field);
}

/// The text chunks of the PNG that comes out, in order.
std::vector<std::pair<std::string, std::string>> output_chunks(const image_with_text& in, const std::string& infotext,
                                                               bool cropped, const extras_settings& settings) {
  std::vector<std::pair<std::string, std::string>> chunks;
  if (!settings.enable_pnginfo) {
    // The resized image keeps the input's info (PIL copies it); a new canvas has none.
    if (!cropped) {
      chunks.assign(in.text.begin(), in.text.end());
    }
    return chunks;
  }
  const image_text_info info = read_image_text_info(in.text, in.image.width, in.image.height);
  auto set = [&chunks](const std::string& key, const std::string& value) {
    for (auto& [k, v] : chunks) {
      if (k == key) {
        v = value;
        return;
      }
    }
    chunks.emplace_back(key, value);
  };
  for (const auto& [key, value] : info.items) {
    if (value.is_string()) {
      set(key, value.as_string());
    }
  }
  if (!info.info.empty()) {
    set("parameters", info.info);
  }
  set("postprocessing", infotext);
  return chunks;
}

} // namespace

extras_request parse_extras_request(const json_value& body, bool batch) {
  if (!body.is_object()) {
    throw error(errc::bad_request, "body", "value is not a valid dict");
  }
  extras_request r;
  extras_upscale_params& u = r.upscale;
  if (const json_value* v = present(body, "resize_mode")) {
    // Literal[0, 1]: Python's `in` on the permitted values, so 1.0 and true are 1.
    const bool number = v->is_number() || v->is_bool();
    const double d = v->is_bool() ? (v->as_bool() ? 1 : 0) : number ? v->as_number() : -1;
    if (!number || (d != 0 && d != 1)) {
      throw error(errc::bad_request, "resize_mode", "unexpected value; permitted: 0, 1");
    }
    u.mode = static_cast<int>(d);
  }
  r.show_extras_results = bool_field(body, "show_extras_results", true);
  r.gfpgan_visibility = visibility(body, "gfpgan_visibility", 0);
  r.codeformer_visibility = visibility(body, "codeformer_visibility", 0);
  r.codeformer_weight = visibility(body, "codeformer_weight", 0);
  if (const json_value* v = present(body, "upscaling_resize")) {
    u.upscale_by = float_field(*v, "upscaling_resize", false, 0, true, INFINITY);
    r.upscale_by_given = true;
  }
  u.to_width = side_field(body, "upscaling_resize_w");
  u.to_height = side_field(body, "upscaling_resize_h");
  u.crop = bool_field(body, "upscaling_crop", true);
  u.upscaler_1 = str_field(body, "upscaler_1", "None");
  u.upscaler_2 = str_field(body, "upscaler_2", "None");
  u.upscaler_2_visibility = visibility(body, "extras_upscaler_2_visibility", 0);
  r.upscale_first = bool_field(body, "upscale_first", false);
  if (!batch) {
    r.images.emplace_back("image", str_field(body, "image", ""));
    return r;
  }
  const json_value* list = body.find("imageList");
  if (list == nullptr) {
    throw error(errc::bad_request, "imageList", "field required");
  }
  if (list->is_null()) {
    throw error(errc::bad_request, "imageList", "none is not an allowed value");
  }
  const json_array& items = coerce_list(*list, "imageList");
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string field = "imageList." + std::to_string(i);
    if (!items[i].is_object()) {
      throw error(errc::bad_request, field, "value is not a valid dict");
    }
    std::string data = file_data_field(items[i], field, "data");
    file_data_field(items[i], field, "name");
    r.images.emplace_back(field + ".data", std::move(data));
  }
  return r;
}

void check_extras_upscalers(const extras_upscale_params& p) {
  if (p.upscaler_1 == "None") {
    return;
  }
  check_upscaler("upscaler_1", p.upscaler_1);
  if (p.upscaler_2 != "None") {
    check_upscaler("upscaler_2", p.upscaler_2);
  }
}

std::string extras_infotext(const extras_request& r) {
  const extras_upscale_params& u = r.upscale;
  if (u.upscaler_1 == "None") {
    return "";
  }
  std::vector<std::pair<std::string, std::string>> info;
  if (u.mode == 1) {
    info.emplace_back("Postprocess upscale to", std::to_string(u.to_width) + "x" + std::to_string(u.to_height));
  } else {
    // pydantic leaves the default unvalidated: the int 2, where a value sent becomes a float.
    info.emplace_back("Postprocess upscale by", r.upscale_by_given ? python_float_repr(u.upscale_by) : "2");
  }
  if (u.mode == 1 && u.crop) {
    info.emplace_back("Postprocess crop to", std::to_string(u.to_width) + "x" + std::to_string(u.to_height));
  }
  info.emplace_back("Postprocess upscaler", u.upscaler_1);
  if (u.upscaler_2 != "None" && u.upscaler_2_visibility > 0) {
    info.emplace_back("Postprocess upscaler 2", u.upscaler_2);
  }
  std::string text;
  for (const auto& [k, v] : info) {
    text += (text.empty() ? "" : ", ") + (k == v ? k : k + ": " + quote_infotext_value(v));
  }
  return text;
}

std::string plaintext_to_html(const std::string& text) {
  std::string content;
  size_t start = 0;
  for (;;) {
    const size_t nl = text.find('\n', start);
    content += html_escape(text.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
    if (nl == std::string::npos) {
      break;
    }
    content += "<br>\n";
    start = nl + 1;
  }
  return "<p>" + content + "</p>";
}

http_answer extras_answer(std::string_view body, bool batch, const extras_settings& settings) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return a1111_error_answer(errc::bad_request, "body", "field required");
  }
  extras_request request;
  try {
    request = parse_extras_request(parse_json(body, "body"), batch);
  } catch (const error& e) {
    return a1111_error_answer(e.code(), e.where(), e.message());
  }
  // A1111 decodes every image before it runs anything.
  std::vector<image_with_text> inputs;
  for (const auto& [field, text] : request.images) {
    if (text.rfind("http://", 0) == 0 || text.rfind("https://", 0) == 0) {
      return a1111_http_exception(500, "Requests not allowed: sdworker does not download images; send `" + field +
                                         "` as base64");
    }
    try {
      const std::string bytes = image_bytes(text, field);
      if (bytes.empty()) {
        return invalid_image(field, "no data");
      }
      inputs.push_back(decode_image_with_text(bytes, field));
    } catch (const error& e) {
      return invalid_image(field, e.message());
    }
  }
  const std::string infotext = extras_infotext(request);
  json_value images = json_value::array();
  try {
    check_extras_upscalers(request.upscale);
    for (const auto& in : inputs) {
      check_result_size(request.upscale, in.image.width, in.image.height);
    }
    for (auto& in : inputs) {
      // run_postprocessing works on image.convert("RGB"): alpha is dropped, not composited.
      const image8 out = extras_upscale(to_rgb(in.image), request.upscale,
                                      {nullptr, settings.esrgan_tile, settings.esrgan_tile_overlap});
      const bool cropped = plan_extras_upscale(in.image.width, in.image.height, request.upscale).cropped;
      const std::string png =
        encode_png(out.pixels.data(), out.width, out.height, output_chunks(in, infotext, cropped, settings));
      images.push_back(base64_encode(png));
      // The input's pixels are not needed again.
      in.image = image8();
    }
  } catch (const error& e) {
    return a1111_error_answer(e.code(), e.where(), e.message());
  }
  json_value answer = json_value::object();
  // run_postprocessing shows the last image's infotext (A1111's is "" when there were none).
  answer.set("html_info", plaintext_to_html(inputs.empty() ? "" : infotext));
  if (batch) {
    answer.set("images", std::move(images));
  } else {
    answer.set("image", std::move(images.as_array().at(0)));
  }
  return {200, to_json(answer)};
}

} // namespace sdw
