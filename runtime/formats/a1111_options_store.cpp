#include "runtime/formats/a1111_options_store.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/formats/options.hpp"

#include <algorithm>
#include <filesystem>
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
                          const std::vector<std::string>& loaded_names) {
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
    if (std::find(loaded_names.begin(), loaded_names.end(), name) == loaded_names.end()) {
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

std::vector<std::string> checkpoint_aliases(const checkpoint_listing& checkpoint) {
  namespace fs = std::filesystem;
  const fs::path path(checkpoint.path);
  const std::string file_name = path.filename().string();
  std::vector<std::string> names = {file_name, path.stem().string(), checkpoint.path};
  std::error_code ec;
  const fs::path absolute = fs::absolute(path, ec);
  if (!ec) {
    names.push_back(absolute.string());
  }
  if (checkpoint.sha256.size() >= 10) {
    const std::string short_hash = checkpoint.sha256.substr(0, 10);
    names.push_back(file_name + " [" + short_hash + "]");
    names.push_back(path.stem().string() + " [" + short_hash + "]");
    names.push_back(short_hash);
    names.push_back(checkpoint.sha256);
  }
  return names;
}

std::vector<std::string> find_checkpoints(const std::vector<std::string>& folders) {
  namespace fs = std::filesystem;
  std::vector<std::string> found;
  for (const auto& folder : folders) {
    std::error_code ec;
    if (folder.empty() || !fs::is_directory(folder, ec)) {
      continue;
    }
    for (fs::recursive_directory_iterator it(folder, fs::directory_options::skip_permission_denied, ec), end;
         !ec && it != end; it.increment(ec)) {
      std::error_code file_ec;
      if (it->is_regular_file(file_ec) && it->path().extension() == ".safetensors") {
        const fs::path canonical = fs::weakly_canonical(it->path(), file_ec);
        found.push_back(file_ec ? it->path().string() : canonical.string());
      }
    }
  }
  std::sort(found.begin(), found.end());
  found.erase(std::unique(found.begin(), found.end()), found.end());
  return found;
}

} // namespace sdw
