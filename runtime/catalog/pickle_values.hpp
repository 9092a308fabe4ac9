#pragma once
/// The values the restricted unpickler builds (torch_pickle.hpp's readers), the heap that owns them
/// and the bounds that keep a hostile file from exhausting memory. Internal to runtime/catalog.

#include "runtime/base/errors.hpp"
#include "runtime/catalog/torch_pickle.hpp"

#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sdw::pickle {

// Bounds that no real torch.save file comes near; they keep a hostile file from exhausting memory.
constexpr size_t max_objects = 1'000'000;        // values built while unpickling
constexpr size_t max_marks = 10'000;             // open MARKs at once
constexpr int max_depth = 64;                    // nesting of dicts, lists and tuples
constexpr size_t max_dims = 32;                  // dimensions of one tensor
constexpr size_t max_text_line = 4096;           // GLOBAL names and text-encoded numbers

[[noreturn]] inline void fail(const std::string& file, const std::string& message) {
  throw error(errc::bad_request, file, message);
}

using storage_ref = pickled_storage;

struct tensor_ref {
  const storage_ref* storage = nullptr;
  int64_t offset = 0;
  std::vector<int64_t> sizes, strides;
};

enum class global_id {
  ordered_dict, torch_size, rebuild_tensor, rebuild_tensor_v2, rebuild_parameter,
  rebuild_parameter_with_state, storage_type, rebuild_from_numpy,
  parameter_dict, numpy_scalar, numpy_reconstruct, numpy_dtype, numpy_ndarray, codecs_encode, builtin_set,
  model_checkpoint,
};

enum class kind {
  none, boolean, integer, big_integer, real, text, bytes, list, tuple, dict, global, storage, tensor,
  object,    // an allow-listed class's instance (ParameterDict, numpy.ndarray, ModelCheckpoint) awaiting or past BUILD
  np_dtype,  // a numpy.dtype: its code ("f4", "i8") in `s`
};

struct value {
  kind k = kind::none;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;                                 // text, bytes, a big integer's bytes, a global's name
  std::vector<value*> items;                     // list, tuple
  std::vector<std::pair<value*, value*>> entries;  // dict, in insertion order
  global_id global = global_id::ordered_dict;
  pickle_dtype dtype = pickle_dtype::u8;         // a storage type's element type
  const storage_ref* storage = nullptr;
  const tensor_ref* tensor = nullptr;
  std::shared_ptr<pickled_array> array;          // a numpy array's data (tensor == nullptr)
  bool built = false;                            // an object's or a numpy dtype's BUILD has been applied
};

/// Owns everything the pickles build, so that reference cycles a file may create cannot leak.
struct heap {
  std::string file;
  std::deque<value> values;
  std::deque<storage_ref> storages;
  std::deque<tensor_ref> tensors;

  value* make(kind k) {
    if (values.size() >= max_objects)
      fail(file, "holds more than " + std::to_string(max_objects) + " objects");
    values.emplace_back();
    values.back().k = k;
    return &values.back();
  }
};

inline const char* kind_name(kind k) {
  switch (k) {
    case kind::none: return "None";
    case kind::boolean: return "a bool";
    case kind::integer: return "an int";
    case kind::big_integer: return "an int wider than 64 bits";
    case kind::real: return "a float";
    case kind::text: return "a string";
    case kind::bytes: return "bytes";
    case kind::list: return "a list";
    case kind::tuple: return "a tuple";
    case kind::dict: return "a dict";
    case kind::global: return "a class or function";
    case kind::storage: return "a storage";
    case kind::tensor: return "a tensor";
    case kind::object: return "an object";
    case kind::np_dtype: return "a numpy dtype";
  }
  return "a value";
}

} // namespace sdw::pickle
