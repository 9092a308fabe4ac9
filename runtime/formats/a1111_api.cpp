#include "runtime/formats/a1111_api.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/formats/a1111_samplers.hpp"

#include <filesystem>
#include <regex>
#include <utility>

namespace sdw {
namespace {

std::string a1111_exception_body(const std::string& error, const std::string& detail, const std::string& errors) {
  json_value body = json_value::object();
  body.set("error", error);
  body.set("detail", detail);
  body.set("body", "");
  body.set("errors", errors);
  return to_json(body);
}

/// The loc of a request field: "override_settings.CLIP_stop_at_last_layers" is two levels deep.
json_value field_loc(const std::string& field, const std::string& message) {
  json_value loc = json_value::array();
  loc.push_back("body");
  if (field.empty() || field == "body") {
    // FastAPI puts the character offset of a JSON syntax error after "body".
    static const std::regex char_offset(R"(\(char (\d+)\))");
    std::smatch m;
    if (std::regex_search(message, m, char_offset)) {
      loc.push_back(std::stoll(m[1].str()));
    }
    return loc;
  }
  size_t start = 0;
  while (start <= field.size()) {
    const size_t dot = field.find('.', start);
    loc.push_back(field.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) {
      break;
    }
    start = dot + 1;
  }
  return loc;
}

} // namespace

txt2img_request check_generation_body(std::string_view body, request_kind kind) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos)
    throw error(errc::bad_request, "body", "field required");
  json_value doc = parse_json(body, "body");
  // A plain body is for the route it came to; a RunPod job form names its own call.
  txt2img_request request = doc.is_object() && doc.find("input") != nullptr
                                ? generation_request_from_call(unwrap_a1111_call(std::move(doc)))
                                : txt2img_request_from_json(doc, kind);
  const std::string& name = request.effective_sampler_name();
  if (find_sampler(name) == nullptr) {
    throw error(errc::not_found, "sampler_name", "Sampler not found: '" + name + "'");
  }
  if (request.override_settings) {
    options opts;
    apply_overrides(opts, *request.override_settings);
  }
  return request;
}

http_answer a1111_http_exception(int status, const std::string& detail) {
  return {status, a1111_exception_body("HTTPException", detail, "")};
}

std::string pydantic_error_type(const std::string& message) {
  static const std::pair<const char*, const char*> known[] = {
    {"value is not a valid integer", "type_error.integer"},
    {"value is not a valid float", "type_error.float"},
    {"value could not be parsed to a boolean", "type_error.bool"},
    {"str type expected", "type_error.str"},
    {"value is not a valid list", "type_error.list"},
    {"value is not a valid dict", "type_error.dict"},
    {"field required", "value_error.missing"},
    {"none is not an allowed value", "type_error.none.not_allowed"},
  };
  for (const auto& [msg, type] : known) {
    if (message == msg) {
      return type;
    }
  }
  static const std::pair<const char*, const char*> prefixes[] = {
    {"unexpected value; permitted", "value_error.const"},
    {"ensure this value is greater than or equal to", "value_error.number.not_ge"},
    {"ensure this value is greater than", "value_error.number.not_gt"},
    {"ensure this value is less than or equal to", "value_error.number.not_le"},
    {"ensure this value is a finite number", "value_error.number.not_finite_number"},
  };
  for (const auto& [prefix, type] : prefixes) {
    if (message.rfind(prefix, 0) == 0) {
      return type;
    }
  }
  if (message.find("(char ") != std::string::npos) {
    return "value_error.jsondecode";
  }
  return "value_error";
}

http_answer a1111_error_answer(errc kind, const std::string& field, const std::string& message) {
  if (kind == errc::bad_request) {
    json_value item = json_value::object();
    item.set("loc", field_loc(field, message));
    item.set("msg", message);
    item.set("type", pydantic_error_type(message));
    json_value detail = json_value::array();
    detail.push_back(std::move(item));
    json_value body = json_value::object();
    body.set("detail", std::move(detail));
    return {422, to_json(body)};
  }
  if (kind == errc::not_found && (field == "script_name" || field == "alwayson_scripts")) {
    // api.py's script lookups raise HTTPException(422) with the message as detail.
    return {422, a1111_exception_body("HTTPException", message, "")};
  }
  if (kind == errc::not_found && field == "sampler_name") {
    return {404, a1111_exception_body("HTTPException", "Sampler not found", "")};
  }
  if (kind == errc::not_found) {
    return {404, a1111_exception_body("HTTPException", message, "")};
  }
  if (kind == errc::unsupported) {
    // A valid request for something sdworker does not do: the client's to change, so a 4xx that
    // names the field, like A1111's own HTTPException answers.
    return {422, a1111_exception_body("HTTPException", (field.empty() ? "" : field + ": ") + message, "")};
  }
  if (kind == errc::queue_full) {
    return {503, a1111_exception_body("HTTPException", message, "")};
  }
  if (kind == errc::cancelled) {
    return {500, a1111_exception_body("RuntimeError", "", "Interrupted: " + message)};
  }
  const std::string errors = field.empty() ? message : field + ": " + message;
  return {500, a1111_exception_body("RuntimeError", "", errors)};
}

std::string samplers_json() {
  json_value list = json_value::array();
  for (const auto& s : all_samplers()) {
    json_value item = json_value::object();
    item.set("name", s.name);
    json_value aliases = json_value::array();
    for (const auto& a : s.aliases) {
      aliases.push_back(a);
    }
    item.set("aliases", std::move(aliases));
    json_value opts = json_value::object();
    for (const auto& [k, v] : s.options) {
      opts.set(k, v);
    }
    item.set("options", std::move(opts));
    list.push_back(std::move(item));
  }
  return to_json(list);
}

std::string sd_models_json(const std::vector<checkpoint_info>& models) {
  json_value list = json_value::array();
  for (const auto& m : models) {
    const std::string short_hash = m.short_hash();
    json_value item = json_value::object();
    item.set("title", m.title());
    item.set("model_name", m.model_name);
    item.set("hash", short_hash.empty() ? json_value() : json_value(short_hash));
    item.set("sha256", m.sha256.empty() ? json_value() : json_value(m.sha256));
    item.set("filename", m.path);
    item.set("config", m.config.empty() ? json_value() : json_value(m.config));
    list.push_back(std::move(item));
  }
  return to_json(list);
}

std::string sd_vae_json(const std::vector<vae_info>& vaes) {
  json_value list = json_value::array();
  for (const auto& v : vaes) {
    json_value item = json_value::object();
    item.set("model_name", v.name);
    item.set("filename", v.path);
    list.push_back(std::move(item));
  }
  return to_json(list);
}

} // namespace sdw
