#pragma once
/// The header of a .safetensors file: the 8-byte length, then a JSON object that names each tensor
/// with its dtype, shape and byte range in the data section. Checked completely here, on bytes in
/// memory, so that the reader (engine/safetensors.hpp) only maps the file and points into it.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sdw {

/// Element types a safetensors file may hold (the ones a checkpoint for this worker can use).
enum class st_dtype { f64, f32, f16, bf16, i64, i32, i16, i8, u8, boolean };

/// Size of one element in bytes.
size_t dtype_size(st_dtype dtype);

/// The name used in the file header ("F32", "BF16", "BOOL", ...).
const char* to_string(st_dtype dtype);

/// The dtype for a header name, or nothing when the name is unknown.
std::optional<st_dtype> parse_st_dtype(std::string_view name);

/// shape × dtype_size bytes, or nothing when that does not fit in 64 bits.
std::optional<uint64_t> st_byte_count(const std::vector<int64_t>& shape, st_dtype dtype);

/// One tensor as the header gives it: its bytes are [begin, end) of the data section.
struct st_header_entry {
  std::string name;
  st_dtype dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;
  uint64_t end = 0;
};

/// A checked header: every range lies in the data section, holds exactly shape × dtype bytes and
/// overlaps no other non-empty range.
struct safetensors_header {
  uint64_t data_start = 0;              ///< 8 + the header length: where the data section begins
  std::vector<st_header_entry> tensors;  ///< in the order of their data in the file
  std::map<std::string, std::string> metadata;  ///< the `__metadata__` string map (empty when absent)
};

/// The header length that the first bytes of a file of `file_size` bytes give (`head` holds its
/// first min(8, file_size) bytes). Throws error(bad_checkpoint, path, ...) for a PyTorch pickle
/// checkpoint (with a conversion hint), a file under 8 bytes, and a length over 100 MiB or past
/// the end of the file.
uint64_t safetensors_header_length(std::string_view head, uint64_t file_size, const std::string& path);

/// Parses and checks the header JSON of a file of `file_size` bytes whose header is `json` (the
/// safetensors_header_length bytes after the first 8). Throws error(bad_checkpoint, path, ...) for
/// anything malformed, naming the tensor where there is one.
safetensors_header parse_safetensors_header(std::string_view json, uint64_t file_size, const std::string& path);

} // namespace sdw
