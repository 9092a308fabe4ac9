#include "runtime/formats/a1111_options_store.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/formats/options.hpp"

#include <algorithm>
#include <system_error>

namespace sdw {
namespace {

const json_value* stored_value(const json_object& stored, std::string_view key) {
  for (const auto& [k, v] : stored) {
    if (k == key) {
      return &v;
    }
  }
  return nullptr;
}

http_answer runtime_error(const std::string& error_class, const std::string& errors) {
  json_value body = json_value::object();
  body.set("error", error_class);
  body.set("detail", "");
  body.set("body", "");
  body.set("errors", errors);
  return {500, to_json(body)};
}

} // namespace

std::string options_json(const json_object& stored, const loaded_checkpoint& loaded) {
  json_value out = json_value::object();
  for (const auto& [key, text] : a1111_option_defaults()) {
    if (const json_value* v = stored_value(stored, key)) {
      out.set(std::string(key), *v);
    } else if (key == "sd_model_checkpoint" && !loaded.title.empty()) {
      out.set(std::string(key), loaded.title);
    } else if (key == "sd_checkpoint_hash" && !loaded.sha256.empty()) {
      out.set(std::string(key), loaded.sha256);
    } else {
      out.set(std::string(key), parse_json(text, std::string(key)));
    }
  }
  return to_json(out);
}

options_post post_options(std::string_view body, const json_object& stored,
                          const std::function<bool(const std::string&)>& known_checkpoint) {
  options_post out;
  out.stored = stored;
  json_value doc;
  try {
    doc = parse_json(body, "body");
    if (!doc.is_object()) {
      throw error(errc::bad_request, "body", "value is not a valid dict");
    }
  } catch (const error& e) {
    out.refused = a1111_error_answer(e.code(), e.where(), e.message());
    return out;
  }
  const json_object& posted = doc.as_object();
  // A1111 checks the checkpoint before it stores anything.
  if (const json_value* ckpt = stored_value(posted, "sd_model_checkpoint"); ckpt != nullptr && !ckpt->is_null()) {
    const std::string name = ckpt->is_string() ? ckpt->as_string() : to_json(*ckpt);
    if (!known_checkpoint || !known_checkpoint(name)) {
      out.refused = runtime_error("RuntimeError", "model '" + name + "' not found");
      return out;
    }
  }
  options scratch;
  for (const auto& [key, value] : posted) {
    if (!is_a1111_option_key(key)) {
      const json_value* old = stored_value(out.stored, key);
      if (old != nullptr && *old == value) {
        continue;
      }
      out.refused = runtime_error("KeyError", "'" + key + "'");
      return out;
    }
    try {
      apply_override(scratch, key, value);
    } catch (const error& e) {
      out.refused = a1111_error_answer(errc::bad_request, key, e.message());
      return out;
    }
    json_value merged(out.stored);
    merged.set(key, value);
    out.stored = std::move(merged.as_object());
  }
  return out;
}

} // namespace sdw
