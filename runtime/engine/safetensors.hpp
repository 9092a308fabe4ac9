#pragma once
/// Reading and writing .safetensors checkpoint files: a memory-mapped, fully validated reader and
/// a writer that produces the same layout as the reference Python library. The header itself is
/// parsed and checked by catalog/safetensors_header.hpp.

#include "runtime/catalog/safetensors_header.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sdw {

/// One tensor of an open file; `data` points into the mapping and lives as long as the file.
struct st_tensor {
  std::string name;
  st_dtype dtype;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  ///< little-endian elements; 8-byte aligned when the header is padded
  size_t nbytes = 0;

  /// Number of elements (1 for a scalar of shape []).
  int64_t numel() const;
};

/// Copies the elements of a floating-point tensor (f64/f32/f16/bf16) into `out` as float;
/// throws bad_checkpoint for integer and bool tensors. `out` must hold numel() floats.
void copy_as_float(const st_tensor& tensor, float* out);

/// A read-only memory-mapped .safetensors file whose header has been checked completely.
class safetensors_file {
public:
  /// Maps and validates `path`. Throws error(not_found) when the file does not exist and
  /// error(bad_checkpoint, path, ...) for anything malformed (pickle checkpoints included).
  static std::shared_ptr<safetensors_file> open(const std::string& path);

  /// A view of tensors already in memory (e.g. read from a torch.save file), so that the loaders see
  /// them as they see a .safetensors file. Each entry's `data` points into memory that `owner` keeps
  /// alive for as long as the view lives; `file_size` is the size of the file they came from.
  /// Throws error(bad_checkpoint, path, ...) for a name given twice or a byte count that does not
  /// match its shape.
  static std::shared_ptr<safetensors_file> from_memory(const std::string& path, uint64_t file_size,
                                                       std::vector<st_tensor> tensors,
                                                       std::shared_ptr<const void> owner);

  ~safetensors_file();
  safetensors_file(const safetensors_file&) = delete;
  safetensors_file& operator=(const safetensors_file&) = delete;

  /// The tensor with that name, or nullptr.
  const st_tensor* find(std::string_view name) const;
  /// All tensors, in the order of their data in the file.
  const std::vector<st_tensor>& tensors() const { return tensors_; }
  /// The string map under the header's `__metadata__` key (empty when absent).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  /// The path the file was opened with.
  const std::string& path() const { return path_; }
  /// Size of the whole file in bytes.
  uint64_t file_size() const { return size_; }

private:
  safetensors_file() = default;
  static std::shared_ptr<safetensors_file> open_checked(const std::string& path);

  std::string path_;
  const uint8_t* base_ = nullptr;  ///< the mapping; null for a view of memory
  uint64_t size_ = 0;
  std::shared_ptr<const void> owner_;  ///< what keeps the memory of a view alive
  std::vector<st_tensor> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
};

/// One tensor to write: the bytes are its little-endian elements, numel * dtype_size long.
struct st_write_entry {
  std::string name;
  st_dtype dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};

/// Writes a safetensors file (tensors ordered like the Python library: by dtype, widest first,
/// then by name; header padded with spaces to 8 bytes) through a temporary file renamed into place.
/// Throws error(bad_request, name, ...) for an entry whose byte count does not match its shape.
void write_safetensors(const std::string& path, const std::vector<st_write_entry>& entries,
                       const std::map<std::string, std::string>& metadata);

/// A tensor to write whose bytes are produced on demand, so that large files never sit in memory.
struct st_stream_entry {
  std::string name;
  st_dtype dtype;
  std::vector<int64_t> shape;
  /// Fills exactly numel * dtype_size bytes at `out`; called once, in file order.
  std::function<void(uint8_t* out, size_t nbytes)> fill;
};

/// Like write_safetensors, but asks each entry for its bytes only when it is written.
void write_safetensors_streamed(const std::string& path, const std::vector<st_stream_entry>& entries,
                                const std::map<std::string, std::string>& metadata);

} // namespace sdw
