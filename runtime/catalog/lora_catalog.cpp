#include "runtime/catalog/lora_catalog.hpp"

#include "runtime/base/json_writer.hpp"
#include "runtime/catalog/model_folders.hpp"
#include "runtime/catalog/safetensors_header.hpp"

#include <algorithm>
#include <fstream>
#include <stdexcept>

namespace sdw {
namespace {

constexpr std::string_view kSuffix = ".safetensors";

/// The header's `__metadata__`, read without mapping the file (only its first bytes are read).
std::map<std::string, std::string> metadata_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw std::runtime_error("cannot open " + path);
  const auto size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  std::string head(static_cast<size_t>(std::min<uint64_t>(8, size)), '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  const uint64_t length = safetensors_header_length(head, size, path);
  std::string json(static_cast<size_t>(length), '\0');
  if (!in.read(json.data(), static_cast<std::streamsize>(json.size()))) throw std::runtime_error("short header in " + path);
  return parse_safetensors_header(json, size, path).metadata;
}

} // namespace

std::vector<lora_file_entry> list_lora_files(const std::string& dir) {
  std::vector<lora_file_entry> out;
  for (const found_file& f : files_inside(dir, {std::string(kSuffix)})) {
    lora_file_entry e;
    const std::string file = std::filesystem::path(f.relative).filename().string();
    e.name = file.substr(0, file.size() - kSuffix.size());
    e.alias = e.name;
    e.path = f.real.string();
    try {
      for (const auto& [key, value] : metadata_of(e.path)) {
        if (key == "ssmd_cover_images") continue;  // images, too big to list (A1111 drops them too)
        json_value v(value);
        if (!value.empty() && value.front() == '{') {
          try {
            v = parse_json(value, key);
          } catch (const std::exception&) {
            // A1111 keeps the string when it is not JSON.
          }
        }
        e.metadata.set(key, std::move(v));
      }
      if (const json_value* output_name = e.metadata.find("ss_output_name"); output_name && output_name->is_string()) {
        e.alias = output_name->as_string();
      }
    } catch (const std::exception&) {
      e.metadata = json_value::object();  // listed without metadata, as A1111 does after reporting the error
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::map<std::string, std::string> lora_paths_by_name(const std::vector<lora_file_entry>& entries) {
  std::map<std::string, std::string> by_name;
  for (const auto& e : entries) {
    by_name[e.name] = e.path;
    by_name[e.alias] = e.path;
  }
  return by_name;
}

std::string loras_json(const std::vector<lora_file_entry>& entries) {
  json_value list = json_value::array();
  for (const auto& e : entries) {
    json_value one = json_value::object();
    one.set("name", json_value(e.name));
    one.set("alias", json_value(e.alias));
    one.set("path", json_value(e.path));
    one.set("metadata", e.metadata);
    list.push_back(std::move(one));
  }
  return to_json(list);
}

} // namespace sdw
