#pragma once
/// The Lora folder as A1111's Lora extension lists it (GET /sdapi/v1/loras) and finds a network by
/// the name a prompt gives: each file's name, its alias from the header's metadata, and the metadata.

#include "runtime/base/json_value.hpp"

#include <map>
#include <string>
#include <vector>

namespace sdw {

/// One network file of the folder.
struct lora_file_entry {
  std::string name;    ///< the file name without its extension
  std::string alias;   ///< the metadata's `ss_output_name`, else the name
  std::string path;    ///< the file's real path
  json_value metadata = json_value::object();  ///< the header's `__metadata__`, JSON strings decoded
};

/// The `.safetensors` files in `dir` or below it (the ones sdworker applies), in the folder's
/// order (files_inside). As A1111's read_metadata_from_safetensors: a metadata value that starts
/// with '{' and parses as JSON is given parsed, `ssmd_cover_images` is left out, and a file whose
/// header cannot be read is listed with empty metadata rather than failing the listing. A missing
/// folder has none.
std::vector<lora_file_entry> list_lora_files(const std::string& dir);

/// What `<lora:NAME:…>` finds, as the extension's available_network_aliases: each file by its
/// name and then by its alias, in listing order (a later file's alias may take an earlier name).
std::map<std::string, std::string> lora_paths_by_name(const std::vector<lora_file_entry>& entries);

/// The entries as A1111 answers GET /sdapi/v1/loras: [{"name", "alias", "path", "metadata"}, ...].
std::string loras_json(const std::vector<lora_file_entry>& entries);

} // namespace sdw
