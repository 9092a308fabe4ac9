#include "runtime/runpod/result_images.hpp"

#include "runtime/base/encoding.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/runpod/runpod_api.hpp"

namespace sdw {
namespace {

/// Our own result body: trusted, so only nesting is bounded, not the number of values.
json_value parse_body(const std::string& done_body) {
  json_limits limits;
  limits.max_values = static_cast<std::size_t>(-1);
  return parse_json(done_body, "result", limits);
}

/// The body's `output.images` array, or nullptr.
json_value* images_of(json_value& doc) {
  if (!doc.is_object()) {
    return nullptr;
  }
  for (auto& [key, value] : doc.as_object()) {
    if (key == "output" && value.is_object()) {
      for (auto& [name, images] : value.as_object()) {
        if (name == "images" && images.is_array()) {
          return &images;
        }
      }
    }
  }
  return nullptr;
}

bool starts_with(const std::string& bytes, std::string_view prefix, size_t at = 0) {
  return bytes.size() >= at + prefix.size() && bytes.compare(at, prefix.size(), prefix) == 0;
}

} // namespace

std::vector<std::string> result_image_bytes(const std::string& done_body) {
  json_value doc = parse_body(done_body);
  std::vector<std::string> out;
  const json_value* images = images_of(doc);
  if (images == nullptr) {
    return out;
  }
  for (const auto& item : images->as_array()) {
    const std::string where = "output.images[" + std::to_string(out.size()) + "]";
    if (!item.is_string()) {
      throw error(errc::bad_request, where, "must be a base64 image string, got " + std::string(to_string(item.type())));
    }
    out.push_back(base64_decode(item.as_string(), where));
  }
  return out;
}

std::string with_image_urls(const std::string& done_body, const std::vector<std::string>& urls) {
  json_value doc = parse_body(done_body);
  json_value* images = images_of(doc);
  const size_t have = images == nullptr ? 0 : images->as_array().size();
  if (have != urls.size()) {
    throw error(errc::internal, "output.images",
                std::to_string(urls.size()) + " URLs for " + std::to_string(have) + " images");
  }
  for (size_t i = 0; i < urls.size(); ++i) {
    images->as_array()[i] = json_value(urls[i]);
  }
  return to_json(doc);
}

image_file_type image_type_of(const std::string& bytes) {
  if (starts_with(bytes, "\x89PNG\r\n\x1a\n")) {
    return {".png", "image/png"};
  }
  if (starts_with(bytes, "\xff\xd8\xff")) {
    return {".jpg", "image/jpeg"};
  }
  if (starts_with(bytes, "RIFF") && starts_with(bytes, "WEBP", 8)) {
    return {".webp", "image/webp"};
  }
  return {".bin", "application/octet-stream"};
}

std::string result_object_key(const std::string& job_id, const std::string& extension) {
  return job_id + "/" + new_job_id().substr(0, 8) + extension;
}

} // namespace sdw
