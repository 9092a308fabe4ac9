#pragma once
/// A restricted reader for files written by Python's `torch.save` (.pt, .pth, .ckpt, .bin).
///
/// Such files are pickles, and unpickling them with Python runs whatever code they name. This reader
/// interprets the pickle opcodes itself and builds only plain values (None, bools, ints, floats,
/// strings, dicts, OrderedDicts, lists, tuples) and tensors; every global outside an allow-list is refused
/// before anything is called. The allow-list is A1111's own (modules/safe.py), each global built as data:
///   - collections.OrderedDict, torch.Size (a tuple of ints);
///   - torch._utils._rebuild_tensor(_v2), _rebuild_parameter(_with_state), _rebuild_device_tensor_from_numpy,
///     the typed storages torch.FloatStorage ... torch.BoolStorage, torch.UntypedStorage;
///   - torch dtypes (torch.float32, torch.float16, ...): the string "torch.float32";
///   - torch.nn.modules.container.ParameterDict (older embeddings' string_to_param): the dict of its
///     `_parameters`, as A1111 reads it; the rest of the module state (hooks, training flag) is dropped, so the
///     keys come out as for a plain dict ("string_to_param.*"). In the legacy container a Module is stored with
///     its source code and is refused, as A1111 refuses it;
///   - numpy.core.multiarray.scalar with numpy.dtype (e.g. a checkpoint's global_step): an int, float or bool;
///     numpy.core.multiarray._reconstruct with numpy.ndarray: a tensor, for bool, int8/16/32/64, uint8 and
///     float16/32/64 data in little-endian C or Fortran order; other arrays (objects, big-endian) are refused.
///     numpy >= 2 names the module numpy._core.multiarray; both are read;
///   - _codecs.encode(text, "latin1"): bytes (how protocol 2 carries a numpy value's bytes);
///   - __builtin__.set / builtins.set: the list of its items;
///   - pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint (in .ckpt files' `callbacks`): an inert
///     stand-in, never called, its state dropped: None in the flattened view (a `callbacks` dict keyed by the
///     class gives "callbacks.ModelCheckpoint" = None).
/// Two containers are read:
///   - the zip archive of torch >= 1.6 (`<archive>/data.pkl`, `<archive>/data/<key>`, `<archive>/byteorder`),
///     through libtorch's own zip reader;
///   - the legacy stream of torch < 1.6 (magic number, protocol and sys_info pickles, the object pickle,
///     the storage-key list, then each storage as an int64 element count and its little-endian bytes).
/// The older tar container (torch < 0.4) and big-endian files are refused with a clear error.
/// Damaged files (truncated, corrupt pickles, storages shorter than their tensors, absurd sizes) are
/// errors that name the file; sizes, nesting depth and the number of objects are bounded.

#include "runtime/catalog/torch_pickle.hpp"

#include <ATen/Tensor.h>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <variant>

namespace sdw {

/// What a torch.save file holds, flattened: nested dict keys (and list/tuple indices) joined with '.',
/// e.g. "params_ema.conv_first.weight", "string_to_param.*", "string_to_token.*", "name", "step".
/// A top-level tensor alone is stored under the key "" .
struct torch_file {
  std::map<std::string, at::Tensor> tensors;   ///< CPU tensors, contiguous, their own memory, dtype as stored
  std::map<std::string, torch_scalar> scalars;
};

/// Reads a torch.save file (the zip format of torch >= 1.6, and the legacy format before it) without executing
/// anything: only dicts, OrderedDicts, lists, tuples, scalars, strings and tensors (torch._utils._rebuild_tensor_v2,
/// _rebuild_parameter, the typed storages, and the data-only globals listed above) are built; any other global
/// (a class, a function) is refused.
/// Throws sdw::error(bad_request, <file name>, "...") saying what was refused or what is damaged
/// (and sdw::error(not_found, <file name>, ...) when there is no such file).
torch_file read_torch_file(const std::filesystem::path& path);
} // namespace sdw
