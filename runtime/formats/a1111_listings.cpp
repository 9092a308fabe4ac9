#include "runtime/formats/a1111_listings.hpp"

#include "runtime/base/json_writer.hpp"

namespace sdw {
namespace {

json_value optional_text(const std::optional<std::string>& v) { return v ? json_value(*v) : json_value(); }

json_value string_list(const std::vector<std::string>& items) {
  json_value list = json_value::array();
  for (const auto& s : items) {
    list.push_back(s);
  }
  return list;
}

} // namespace

std::vector<upscaler_listing> builtin_upscalers() {
  return {{"None", std::nullopt, std::nullopt, std::nullopt, 4},
          {"Lanczos", std::nullopt, std::nullopt, std::nullopt, 4},
          {"Nearest", std::nullopt, std::nullopt, std::nullopt, 4}};
}

std::string upscalers_json(const std::vector<upscaler_listing>& upscalers) {
  json_value list = json_value::array();
  for (const auto& u : upscalers) {
    json_value item = json_value::object();
    item.set("name", u.name);
    item.set("model_name", optional_text(u.model_name));
    item.set("model_path", optional_text(u.model_path));
    item.set("model_url", optional_text(u.model_url));
    item.set("scale", u.scale);
    list.push_back(std::move(item));
  }
  return to_json(list);
}

const std::vector<std::string>& latent_upscale_modes() {
  static const std::vector<std::string> modes = {"Latent",           "Latent (antialiased)",
                                                 "Latent (bicubic)", "Latent (bicubic antialiased)",
                                                 "Latent (nearest)", "Latent (nearest-exact)"};
  return modes;
}

std::string latent_upscale_modes_json() {
  json_value list = json_value::array();
  for (const auto& mode : latent_upscale_modes()) {
    json_value item = json_value::object();
    item.set("name", mode);
    list.push_back(std::move(item));
  }
  return to_json(list);
}

std::string face_restorers_json(const std::vector<face_restorer_listing>& restorers) {
  json_value list = json_value::array();
  for (const auto& r : restorers) {
    json_value item = json_value::object();
    item.set("name", r.name);
    item.set("cmd_dir", optional_text(r.cmd_dir));
    list.push_back(std::move(item));
  }
  return to_json(list);
}

std::string realesrgan_models_json(const std::vector<realesrgan_listing>& models) {
  json_value list = json_value::array();
  for (const auto& m : models) {
    json_value item = json_value::object();
    item.set("name", m.name);
    item.set("path", optional_text(m.path));
    item.set("scale", m.scale);
    list.push_back(std::move(item));
  }
  return to_json(list);
}

std::string prompt_styles_json(const std::vector<prompt_style>& styles) {
  json_value list = json_value::array();
  for (const auto& s : styles) {
    json_value item = json_value::object();
    item.set("name", s.name);
    item.set("prompt", optional_text(s.prompt));
    item.set("negative_prompt", optional_text(s.negative_prompt));
    list.push_back(std::move(item));
  }
  return to_json(list);
}

std::string embeddings_json(const std::vector<embedding_listing>& loaded, const std::vector<embedding_listing>& skipped) {
  auto listed = [](const std::vector<embedding_listing>& list) {
    json_value out = json_value::object();
    for (const auto& e : list) {
      json_value item = json_value::object();
      item.set("step", e.step ? json_value(*e.step) : json_value());
      item.set("sd_checkpoint", e.sd_checkpoint ? json_value(*e.sd_checkpoint) : json_value());
      item.set("sd_checkpoint_name", e.sd_checkpoint_name ? json_value(*e.sd_checkpoint_name) : json_value());
      item.set("shape", json_value(e.shape));
      item.set("vectors", json_value(e.vectors));
      out.set(e.name, std::move(item));
    }
    return out;
  };
  json_value body = json_value::object();
  body.set("loaded", listed(loaded));
  body.set("skipped", listed(skipped));
  return to_json(body);
}

std::string scripts_json(const std::vector<std::string>& txt2img, const std::vector<std::string>& img2img) {
  json_value body = json_value::object();
  body.set("txt2img", string_list(txt2img));
  body.set("img2img", string_list(img2img));
  return to_json(body);
}

std::string script_info_json(const std::vector<script_info>& scripts) {
  json_value list = json_value::array();
  for (const auto& s : scripts) {
    json_value args = json_value::array();
    for (const auto& a : s.args) {
      json_value arg = json_value::object();
      arg.set("label", a.label);
      arg.set("value", a.value);
      arg.set("minimum", a.minimum);
      arg.set("maximum", a.maximum);
      arg.set("step", a.step);
      arg.set("choices", a.choices ? string_list(*a.choices) : json_value());
      args.push_back(std::move(arg));
    }
    json_value item = json_value::object();
    item.set("name", s.name);
    item.set("is_alwayson", s.is_alwayson);
    item.set("is_img2img", s.is_img2img);
    item.set("args", std::move(args));
    list.push_back(std::move(item));
  }
  return to_json(list);
}

} // namespace sdw
