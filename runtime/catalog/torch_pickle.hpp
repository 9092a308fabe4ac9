#pragma once
/// The pickles of a torch.save file (.ckpt, .pt, .pth), read without executing anything: a pickle
/// virtual machine that builds only plain values, the descriptions of tensors (storage, offset, sizes,
/// strides) and the data-only globals torch_file.hpp lists, and refuses every other global before
/// anything is called. What it built is flattened into keyed scalars, tensors and numpy arrays; the
/// tensors' bytes stay in the file (torch_file.hpp copies them out). Torch-free, so that the parser
/// of this outside input is fuzzed and sanitized with the other parsers.
/// Every error is sdw::error(bad_request, <file>, ...) saying what was refused or what is damaged;
/// sizes, nesting depth and the number of objects are bounded.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sdw {

/// A plain value stored beside the tensors: None, a bool, an int, a float or a string.
using torch_scalar = std::variant<std::monostate, bool, std::int64_t, double, std::string>;

/// The element types a storage or a numpy array may hold.
enum class pickle_dtype : std::uint8_t { f32, f16, bf16, f64, i64, i32, i16, i8, u8, b8 };
std::size_t pickle_dtype_size(pickle_dtype d);

/// A storage a tensor reads: a zip archive's `data/<root_key>` record, or a legacy file's root
/// storage (a legacy view covers `numel` elements of its root from `offset`).
struct pickled_storage {
  std::string root_key;
  pickle_dtype dtype = pickle_dtype::u8;
  std::int64_t offset = 0;  ///< elements into the root storage (legacy views)
  std::int64_t numel = 0;   ///< elements declared for it
  bool is_view = false;
};

/// A tensor as _rebuild_tensor describes it, in elements of its storage (not yet checked against
/// the storage's extent).
struct pickled_tensor {
  std::string key;
  pickled_storage storage;
  std::int64_t offset = 0;
  std::vector<std::int64_t> sizes, strides;
};

/// A numpy array's data, checked against its shape: `sizes` as pickled, C order unless `fortran`.
struct pickled_array {
  pickle_dtype dtype = pickle_dtype::u8;
  std::vector<std::int64_t> sizes;
  bool fortran = false;
  std::string bytes;
  /// Set by torch's _rebuild_device_tensor_from_numpy: the tensor is the array converted to this type.
  std::optional<pickle_dtype> cast;
};

/// What the object pickle holds, flattened: nested dict keys (and list/tuple indices) joined with
/// '.'; a top-level tensor alone is stored under the key "".
struct unpickled {
  std::map<std::string, torch_scalar> scalars;
  std::vector<pickled_tensor> tensors;
  std::map<std::string, pickled_array> arrays;
};

/// The `data.pkl` record of a torch.save zip archive (torch >= 1.6); its storages are the
/// archive's `data/<root_key>` records.
unpickled unpickle_zip_pickle(const std::string& file, std::string_view pickle);

/// A legacy torch.save stream (torch < 1.6): the magic number, protocol and sys_info pickles, the
/// object pickle, the storage-key list, and where each root storage's bytes are in `data`.
struct legacy_pickles {
  struct span {
    std::size_t offset = 0;  ///< of its first byte in the file
    std::int64_t numel = 0;
  };
  unpickled contents;
  std::map<std::string, span> spans;  ///< by root key
};
legacy_pickles unpickle_legacy(const std::string& file, std::string_view data);

} // namespace sdw
