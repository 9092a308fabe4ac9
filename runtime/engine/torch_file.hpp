#pragma once
/// A restricted reader for files written by Python's `torch.save` (.pt, .pth, .ckpt, .bin).
///
/// Such files are pickles, and unpickling them with Python runs whatever code they name. This reader
/// interprets the pickle opcodes itself and builds only plain values (None, bools, ints, floats,
/// strings, dicts, OrderedDicts, lists, tuples) and tensors; every global outside a short allow-list
/// (collections.OrderedDict, torch.Size, torch._utils._rebuild_tensor(_v2), _rebuild_parameter(_with_state),
/// the typed storages torch.FloatStorage ... torch.BoolStorage, torch.UntypedStorage) is refused
/// before anything is called. Two containers are read:
///   - the zip archive of torch >= 1.6 (`<archive>/data.pkl`, `<archive>/data/<key>`, `<archive>/byteorder`),
///     through libtorch's own zip reader;
///   - the legacy stream of torch < 1.6 (magic number, protocol and sys_info pickles, the object pickle,
///     the storage-key list, then each storage as an int64 element count and its little-endian bytes).
/// The older tar container (torch < 0.4) and big-endian files are refused with a clear error.
/// Damaged files (truncated, corrupt pickles, storages shorter than their tensors, absurd sizes) are
/// errors that name the file; sizes, nesting depth and the number of objects are bounded.

#include <ATen/Tensor.h>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <variant>

namespace sdw {
/// A plain value stored beside the tensors: None, a bool, an int, a float or a string.
using torch_scalar = std::variant<std::monostate, bool, std::int64_t, double, std::string>;

/// What a torch.save file holds, flattened: nested dict keys (and list/tuple indices) joined with '.',
/// e.g. "params_ema.conv_first.weight", "string_to_param.*", "string_to_token.*", "name", "step".
/// A top-level tensor alone is stored under the key "" .
struct torch_file {
  std::map<std::string, at::Tensor> tensors;   ///< CPU tensors, contiguous, their own memory, dtype as stored
  std::map<std::string, torch_scalar> scalars;
};

/// Reads a torch.save file (the zip format of torch >= 1.6, and the legacy format before it) without executing
/// anything: only dicts, OrderedDicts, lists, tuples, scalars, strings and tensors (torch._utils._rebuild_tensor_v2,
/// _rebuild_parameter, the typed storages) are built; any other global (a class, a function) is refused.
/// Throws sdw::error(bad_request, <file name>, "...") saying what was refused or what is damaged
/// (and sdw::error(not_found, <file name>, ...) when there is no such file).
torch_file read_torch_file(const std::filesystem::path& path);
} // namespace sdw
