#include "runtime/catalog/torch_pickle.hpp"

#include "runtime/base/errors.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sdw {

size_t pickle_dtype_size(pickle_dtype d) {
  switch (d) {
    case pickle_dtype::f64: case pickle_dtype::i64: return 8;
    case pickle_dtype::f32: case pickle_dtype::i32: return 4;
    case pickle_dtype::f16: case pickle_dtype::bf16: case pickle_dtype::i16: return 2;
    case pickle_dtype::i8: case pickle_dtype::u8: case pickle_dtype::b8: return 1;
  }
  return 1;
}

namespace {

/// IEEE 754 binary16 → float (a numpy float16 scalar).
float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf, nan
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;  // ±0
  } else {  // subnormal: normalise
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while ((mant & 0x400) == 0);
    bits = sign | (uint32_t(112 - e) << 23) | ((mant & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}


// Bounds that no real torch.save file comes near; they keep a hostile file from exhausting memory.
constexpr size_t max_objects = 1'000'000;        // values built while unpickling
constexpr size_t max_marks = 10'000;             // open MARKs at once
constexpr int max_depth = 64;                    // nesting of dicts, lists and tuples
constexpr size_t max_dims = 32;                  // dimensions of one tensor
constexpr size_t max_text_line = 4096;           // GLOBAL names and text-encoded numbers

[[noreturn]] void fail(const std::string& file, const std::string& message) {
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

const char* kind_name(kind k) {
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

struct storage_type_name {
  const char* name;
  pickle_dtype dtype;
};
constexpr storage_type_name storage_types[] = {
    {"FloatStorage", pickle_dtype::f32}, {"HalfStorage", pickle_dtype::f16},   {"BFloat16Storage", pickle_dtype::bf16},
    {"DoubleStorage", pickle_dtype::f64}, {"LongStorage", pickle_dtype::i64}, {"IntStorage", pickle_dtype::i32},
    {"ShortStorage", pickle_dtype::i16}, {"CharStorage", pickle_dtype::i8},   {"ByteStorage", pickle_dtype::u8},
    {"BoolStorage", pickle_dtype::b8},
};

// torch dtypes a file may name as values (e.g. a config's "dtype"); they read as the string "torch.<name>".
constexpr storage_type_name torch_dtypes[] = {
    {"float32", pickle_dtype::f32}, {"float", pickle_dtype::f32},   {"float16", pickle_dtype::f16},  {"half", pickle_dtype::f16},
    {"bfloat16", pickle_dtype::bf16}, {"float64", pickle_dtype::f64}, {"double", pickle_dtype::f64}, {"int64", pickle_dtype::i64},
    {"long", pickle_dtype::i64}, {"int32", pickle_dtype::i32}, {"int", pickle_dtype::i32}, {"int16", pickle_dtype::i16}, {"int8", pickle_dtype::i8},
    {"uint8", pickle_dtype::u8}, {"bool", pickle_dtype::b8},
};

// numpy dtype codes (little-endian or byte-order-free) whose values are read.
constexpr storage_type_name numpy_dtypes[] = {
    {"f2", pickle_dtype::f16}, {"f4", pickle_dtype::f32}, {"f8", pickle_dtype::f64}, {"i1", pickle_dtype::i8}, {"i2", pickle_dtype::i16},
    {"i4", pickle_dtype::i32},  {"i8", pickle_dtype::i64},  {"u1", pickle_dtype::u8},   {"b1", pickle_dtype::b8},
};

const storage_type_name* find_numpy_dtype(const std::string& code) {
  for (const auto& t : numpy_dtypes)
    if (code == t.name) return &t;
  return nullptr;
}

/// The pickle virtual machine, restricted: it builds values and calls nothing but the allow-listed rebuilders.
class unpickler {
public:
  using persistent_loader = std::function<value*(value* pid, const std::function<void(const std::string&)>& bad)>;

  unpickler(heap& h, std::string_view data, size_t start, std::string record, persistent_loader load_persistent)
    : heap_(h), data_(data), pos_(start), record_(std::move(record)), load_persistent_(std::move(load_persistent)) {}

  /// Runs to the STOP opcode and returns the pickled object.
  value* load();
  /// The byte after the STOP opcode.
  size_t position() const { return pos_; }

private:
  [[noreturn]] void bad(const std::string& message) const {
    fail(heap_.file, record_ + " at byte " + std::to_string(op_start_) + ": " + message);
  }
  std::string_view take(size_t n) {
    if (n > data_.size() - pos_) bad("ends in the middle of an opcode (the file is truncated)");
    auto out = data_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  uint64_t unsigned_le(size_t n) {
    auto bytes = take(n);
    uint64_t v = 0;
    for (size_t k = 0; k < n; ++k) v |= uint64_t(uint8_t(bytes[k])) << (8 * k);
    return v;
  }
  std::string_view line() {
    const size_t end = data_.find('\n', pos_);
    if (end == std::string_view::npos || end - pos_ > max_text_line) bad("a text argument has no end of line");
    auto out = data_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return out;
  }
  size_t length(uint64_t n) {
    if (n > data_.size() - pos_) bad("a string or bytes length runs past the end of the data");
    return size_t(n);
  }

  void push(value* v) { stack_.push_back(v); }
  value* pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) bad("pops an empty stack");
    value* v = stack_.back();
    stack_.pop_back();
    return v;
  }
  value* top() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) bad("reads an empty stack");
    return stack_.back();
  }
  std::vector<value*> pop_mark() {
    if (marks_.empty()) bad("closes a MARK that was never opened");
    std::vector<value*> items(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }

  value* make(kind k) { return heap_.make(k); }
  value* make_int(int64_t i) {
    value* v = make(kind::integer);
    v->i = i;
    return v;
  }
  value* make_text(std::string_view s, kind k = kind::text) {
    value* v = make(k);
    v->s = std::string(s);
    return v;
  }
  value* make_long(std::string_view bytes);
  value* make_global(const std::string& module, const std::string& name);
  value* call(value* func, value* args);
  value* rebuild_tensor(const std::vector<value*>& args, bool v2);
  value* numpy_scalar(const std::vector<value*>& args);
  value* latin1_bytes(const std::vector<value*>& args);
  void build_array(value* target, value* state);
  void build(value* target, value* state);
  std::vector<int64_t> int_tuple(value* v, const char* what);

  void memo_put(uint64_t index) {
    if (memo_.size() >= max_objects && !memo_.count(index)) bad("memoizes too many objects");
    memo_[index] = top();
  }
  value* memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) bad("reads memo entry " + std::to_string(index) + ", which was never stored");
    return it->second;
  }
  void set_items(value* dict, const std::vector<value*>& items) {
    if (dict->k != kind::dict) bad(std::string("sets items on ") + kind_name(dict->k) + ", not a dict");
    if (items.size() % 2) bad("sets items from an odd number of keys and values");
    for (size_t k = 0; k < items.size(); k += 2) dict->entries.emplace_back(items[k], items[k + 1]);
  }
  void append(value* list, const std::vector<value*>& items) {
    if (list->k != kind::list) bad(std::string("appends to ") + kind_name(list->k) + ", not a list");
    list->items.insert(list->items.end(), items.begin(), items.end());
  }

  heap& heap_;
  std::string_view data_;
  size_t pos_;
  size_t op_start_ = 0;
  std::string record_;
  persistent_loader load_persistent_;
  std::vector<value*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, value*> memo_;
};

value* unpickler::make_long(std::string_view bytes) {
  // Little-endian two's complement of any width; beyond 64 bits only the raw bytes are kept.
  if (bytes.size() > 8) return make_text(bytes, kind::big_integer);
  uint64_t v = 0;
  for (size_t k = 0; k < bytes.size(); ++k) v |= uint64_t(uint8_t(bytes[k])) << (8 * k);
  if (!bytes.empty() && bytes.size() < 8 && (uint8_t(bytes.back()) & 0x80)) v |= ~uint64_t{0} << (8 * bytes.size());
  return make_int(static_cast<int64_t>(v));
}

value* unpickler::make_global(const std::string& module, const std::string& name) {
  value* v = make(kind::global);
  v->s = module + "." + name;
  if (module == "collections" && name == "OrderedDict") {
    v->global = global_id::ordered_dict;
  } else if (module == "torch" && name == "Size") {
    v->global = global_id::torch_size;
  } else if (module == "torch._utils" && name == "_rebuild_tensor") {
    v->global = global_id::rebuild_tensor;
  } else if (module == "torch._utils" && name == "_rebuild_tensor_v2") {
    v->global = global_id::rebuild_tensor_v2;
  } else if (module == "torch._utils" && name == "_rebuild_parameter") {
    v->global = global_id::rebuild_parameter;
  } else if (module == "torch._utils" && name == "_rebuild_parameter_with_state") {
    v->global = global_id::rebuild_parameter_with_state;
  } else if (module == "torch._utils" && name == "_rebuild_device_tensor_from_numpy") {
    v->global = global_id::rebuild_from_numpy;
  } else if (module == "torch.nn.modules.container" && name == "ParameterDict") {
    v->global = global_id::parameter_dict;
  } else if ((module == "numpy.core.multiarray" || module == "numpy._core.multiarray") && name == "scalar") {
    v->global = global_id::numpy_scalar;  // numpy >= 2 names the module numpy._core
  } else if ((module == "numpy.core.multiarray" || module == "numpy._core.multiarray") && name == "_reconstruct") {
    v->global = global_id::numpy_reconstruct;
  } else if (module == "numpy" && name == "dtype") {
    v->global = global_id::numpy_dtype;
  } else if (module == "numpy" && name == "ndarray") {
    v->global = global_id::numpy_ndarray;
  } else if (module == "_codecs" && name == "encode") {
    v->global = global_id::codecs_encode;
  } else if ((module == "__builtin__" || module == "builtins") && name == "set") {
    v->global = global_id::builtin_set;
  } else if ((module == "pytorch_lightning.callbacks.model_checkpoint" && name == "ModelCheckpoint") ||
             (module == "pytorch_lightning.callbacks" && name == "model_checkpoint")) {
    v->global = global_id::model_checkpoint;
  } else if ((module == "torch" || module == "torch.storage") && name == "UntypedStorage") {
    v->global = global_id::storage_type;
    v->dtype = pickle_dtype::u8;
  } else {
    bool found = false;
    if (module == "torch")
      for (const auto& t : torch_dtypes)
        if (name == t.name) {  // a dtype is a plain value: its name
          v->k = kind::text;
          v->s = "torch." + name;
          return v;
        }
    if (module == "torch")
      for (const auto& t : storage_types)
        if (name == t.name) {
          v->global = global_id::storage_type;
          v->dtype = t.dtype;
          found = true;
        }
    if (!found)
      bad("refuses the global '" + v->s +
          "': only plain values (dicts, lists, numbers, strings) and tensors are read, nothing that runs code");
  }
  return v;
}

std::vector<int64_t> unpickler::int_tuple(value* v, const char* what) {
  if (v->k != kind::tuple && v->k != kind::list) bad(std::string("a tensor's ") + what + " is not a tuple");
  if (v->items.size() > max_dims) bad(std::string("a tensor's ") + what + " has more than 32 dimensions");
  std::vector<int64_t> out;
  for (value* item : v->items) {
    if (item->k != kind::integer) bad(std::string("a tensor's ") + what + " holds " + kind_name(item->k));
    out.push_back(item->i);
  }
  return out;
}

value* unpickler::rebuild_tensor(const std::vector<value*>& args, bool v2) {
  // _rebuild_tensor(storage, offset, size, stride) and
  // _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks[, metadata]).
  if (v2 ? (args.size() != 6 && args.size() != 7) : args.size() != 4)
    bad("calls _rebuild_tensor with " + std::to_string(args.size()) + " arguments");
  if (args[0]->k != kind::storage) bad(std::string("rebuilds a tensor from ") + kind_name(args[0]->k));
  if (args[1]->k != kind::integer) bad("a tensor's storage offset is not an int");
  if (v2) {
    if (args[5]->k != kind::dict || !args[5]->entries.empty()) bad("a tensor carries backward hooks");
    if (args.size() == 7 && args[6]->k != kind::dict && args[6]->k != kind::none) bad("a tensor's metadata is not a dict");
  }
  heap_.tensors.emplace_back();
  tensor_ref& t = heap_.tensors.back();
  t.storage = args[0]->storage;
  t.offset = args[1]->i;
  t.sizes = int_tuple(args[2], "size");
  t.strides = int_tuple(args[3], "stride");
  if (t.sizes.size() != t.strides.size()) bad("a tensor's size and stride differ in length");
  value* v = make(kind::tensor);
  v->tensor = &t;
  return v;
}

value* unpickler::call(value* func, value* args) {
  if (func->k != kind::global) bad(std::string("calls ") + kind_name(func->k));
  if (args->k != kind::tuple) bad("calls " + func->s + " with arguments that are not a tuple");
  const auto& a = args->items;
  switch (func->global) {
    case global_id::ordered_dict: {
      value* d = make(kind::dict);
      if (a.empty()) return d;
      if (a.size() != 1 || (a[0]->k != kind::list && a[0]->k != kind::tuple)) bad("calls OrderedDict with odd arguments");
      for (value* pair : a[0]->items) {
        if ((pair->k != kind::list && pair->k != kind::tuple) || pair->items.size() != 2)
          bad("builds an OrderedDict from something other than pairs");
        d->entries.emplace_back(pair->items[0], pair->items[1]);
      }
      return d;
    }
    case global_id::torch_size: {
      if (a.size() != 1) bad("calls torch.Size with odd arguments");
      value* t = make(kind::tuple);
      for (int64_t n : int_tuple(a[0], "size")) t->items.push_back(make_int(n));
      return t;
    }
    case global_id::rebuild_tensor: return rebuild_tensor(a, false);
    case global_id::rebuild_tensor_v2: return rebuild_tensor(a, true);
    case global_id::rebuild_parameter:
    case global_id::rebuild_parameter_with_state: {
      // (data, requires_grad, backward_hooks[, state]): the parameter is its data tensor.
      const size_t n = func->global == global_id::rebuild_parameter ? 3 : 4;
      if (a.size() != n) bad("calls " + func->s + " with " + std::to_string(a.size()) + " arguments");
      if (a[0]->k != kind::tensor) bad(std::string("rebuilds a parameter from ") + kind_name(a[0]->k));
      if (a[2]->k != kind::dict || !a[2]->entries.empty()) bad("a parameter carries backward hooks");
      return a[0];
    }
    case global_id::rebuild_from_numpy: {
      // (numpy array, torch dtype, device, requires_grad): the array's values as that dtype, on the CPU.
      if (a.size() != 4) bad("calls " + func->s + " with " + std::to_string(a.size()) + " arguments");
      if (a[0]->k != kind::tensor || a[0]->tensor) bad("rebuilds a device tensor from something other than a numpy array");
      const storage_type_name* dtype = nullptr;
      for (const auto& t : torch_dtypes)
        if (a[1]->k == kind::text && a[1]->s == "torch." + std::string(t.name)) dtype = &t;
      if (!dtype) bad("rebuilds a device tensor without a torch dtype");
      value* v = make(kind::tensor);
      v->array = std::make_shared<pickled_array>(*a[0]->array);
      v->array->cast = dtype->dtype;
      return v;
    }
    case global_id::numpy_scalar: return numpy_scalar(a);
    case global_id::numpy_dtype: {
      // numpy.dtype(code, align, copy); the byte order arrives with BUILD.
      if (a.empty() || a.size() > 3 || a[0]->k != kind::text) bad("calls numpy.dtype with odd arguments");
      value* v = make(kind::np_dtype);
      v->s = a[0]->s;
      return v;
    }
    case global_id::numpy_reconstruct: {
      // _reconstruct(ndarray, (0,), b'b') makes an empty array; BUILD then sets its shape, dtype and bytes.
      if (a.size() != 3 || a[0]->k != kind::global || a[0]->global != global_id::numpy_ndarray)
        bad("calls numpy's _reconstruct for something other than numpy.ndarray");
      value* v = make(kind::object);
      v->global = global_id::numpy_ndarray;
      v->s = a[0]->s;
      return v;
    }
    case global_id::codecs_encode: return latin1_bytes(a);
    case global_id::builtin_set: {
      // A set is read as the list of its items, in the order the file stores them.
      value* l = make(kind::list);
      if (a.empty()) return l;
      if (a.size() != 1 || (a[0]->k != kind::list && a[0]->k != kind::tuple)) bad("calls set with odd arguments");
      l->items = a[0]->items;
      return l;
    }
    case global_id::model_checkpoint: {
      // Never called: an inert stand-in whose state is dropped.
      value* v = make(kind::object);
      v->global = global_id::model_checkpoint;
      v->s = func->s;
      return v;
    }
    case global_id::storage_type: case global_id::parameter_dict: case global_id::numpy_ndarray: break;
  }
  bad("calls " + func->s + ", which is only allowed as a type name or through BUILD");
}

value* unpickler::latin1_bytes(const std::vector<value*>& a) {
  // _codecs.encode(text, "latin1"): how protocol 2 carries bytes; every character must be below 256.
  if (a.size() != 2 || a[0]->k != kind::text || a[1]->k != kind::text || (a[1]->s != "latin1" && a[1]->s != "latin-1"))
    bad("calls _codecs.encode with something other than (text, 'latin1')");
  const std::string& in = a[0]->s;  // UTF-8
  std::string out;
  out.reserve(in.size());
  for (size_t k = 0; k < in.size(); ++k) {
    const auto c = static_cast<uint8_t>(in[k]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if ((c == 0xc2 || c == 0xc3) && k + 1 < in.size() && (static_cast<uint8_t>(in[k + 1]) & 0xc0) == 0x80) {
      out.push_back(static_cast<char>(((c & 0x1f) << 6) | (static_cast<uint8_t>(in[k + 1]) & 0x3f)));
      ++k;
    } else {
      bad("encodes text as latin1 that holds a character beyond latin1");
    }
  }
  value* v = make(kind::bytes);
  v->s = std::move(out);
  return v;
}

value* unpickler::numpy_scalar(const std::vector<value*>& a) {
  // scalar(dtype, raw bytes): one little-endian element, read as an int, a float or a bool.
  if (a.size() != 2 || a[0]->k != kind::np_dtype || (a[1]->k != kind::bytes && a[1]->k != kind::text))
    bad("calls numpy's scalar with something other than (dtype, bytes)");
  const storage_type_name* t = find_numpy_dtype(a[0]->s);
  if (!t) bad("holds a numpy scalar of dtype '" + a[0]->s + "', which is not read");
  const std::string& raw = a[1]->s;
  if (raw.size() != pickle_dtype_size(t->dtype)) bad("holds a numpy scalar whose bytes do not fit its dtype");
  uint64_t bits = 0;
  for (size_t k = 0; k < raw.size(); ++k) bits |= uint64_t(uint8_t(raw[k])) << (8 * k);
  value* v = nullptr;
  switch (t->dtype) {
    case pickle_dtype::b8: v = make(kind::boolean); v->b = bits != 0; break;
    case pickle_dtype::u8: v = make_int(static_cast<int64_t>(bits)); break;
    case pickle_dtype::i8: v = make_int(static_cast<int8_t>(bits)); break;
    case pickle_dtype::i16: v = make_int(static_cast<int16_t>(bits)); break;
    case pickle_dtype::i32: v = make_int(static_cast<int32_t>(bits)); break;
    case pickle_dtype::i64: v = make_int(static_cast<int64_t>(bits)); break;
    case pickle_dtype::f16:
      v = make(kind::real);
      v->f = half_to_float(static_cast<uint16_t>(bits));
      break;
    case pickle_dtype::f32: {
      float f;
      const auto b32 = static_cast<uint32_t>(bits);
      std::memcpy(&f, &b32, sizeof f);
      v = make(kind::real);
      v->f = f;
      break;
    }
    default: {
      v = make(kind::real);
      std::memcpy(&v->f, &bits, sizeof bits);
    }
  }
  return v;
}

void unpickler::build_array(value* target, value* state) {
  // ndarray.__setstate__((version,) shape, dtype, is_fortran, raw bytes).
  if (state->k != kind::tuple || (state->items.size() != 4 && state->items.size() != 5))
    bad("sets a numpy array's state from something other than (shape, dtype, is_fortran, data)");
  const auto& s = state->items;
  const size_t o = s.size() - 4;
  const std::vector<int64_t> shape = int_tuple(s[o], "size");
  if (s[o + 1]->k != kind::np_dtype) bad("gives a numpy array a dtype that is not a numpy dtype");
  const storage_type_name* t = find_numpy_dtype(s[o + 1]->s);
  if (!t) bad("holds a numpy array of dtype '" + s[o + 1]->s + "', which is not read");
  const bool fortran = (s[o + 2]->k == kind::boolean && s[o + 2]->b) || (s[o + 2]->k == kind::integer && s[o + 2]->i);
  if (s[o + 3]->k != kind::bytes && s[o + 3]->k != kind::text)
    bad("holds a numpy array whose data is not raw bytes (an array of Python objects)");
  const std::string& raw = s[o + 3]->s;
  unsigned __int128 bytes = pickle_dtype_size(t->dtype);
  for (int64_t n : shape) {
    if (n < 0) bad("holds a numpy array with a negative size");
    bytes *= static_cast<uint64_t>(n);
    if (bytes > raw.size()) break;
  }
  if (bytes != raw.size()) bad("holds a numpy array whose data does not match its shape and dtype");
  auto a = std::make_shared<pickled_array>();
  a->dtype = t->dtype;
  a->sizes = shape;
  a->fortran = fortran;
  a->bytes = raw;
  target->k = kind::tensor;
  target->array = a;
}

void unpickler::build(value* target, value* state) {
  if (target->k == kind::dict) {  // a state dict's OrderedDict carries `_metadata`, which holds no tensors
    if (state->k != kind::dict && state->k != kind::none && state->k != kind::tuple)
      bad(std::string("sets an OrderedDict's state from ") + kind_name(state->k));
    return;
  }
  if (target->k == kind::np_dtype) {  // (version, byte order, ...)
    if (state->k != kind::tuple || state->items.size() < 2 || state->items[1]->k != kind::text)
      bad("sets a numpy dtype's state from something other than (version, byte order, ...)");
    const std::string& order = state->items[1]->s;
    if (order == ">") bad("holds big-endian numpy data, which is not supported");
    if (order != "<" && order != "|" && order != "=") bad("gives a numpy dtype the byte order '" + order + "'");
    target->built = true;
    return;
  }
  if (target->k == kind::global && target->global == global_id::model_checkpoint) return;  // state dropped
  if (target->k != kind::object || target->built) bad(std::string("sets the state of ") + kind_name(target->k));
  switch (target->global) {
    case global_id::model_checkpoint: break;  // inert: its state is dropped unread
    case global_id::numpy_ndarray: build_array(target, state); break;
    case global_id::parameter_dict: {
      // A Module's __dict__; the contents are its `_parameters` dict, the rest (hooks, flags) is dropped.
      if (state->k != kind::dict) bad("sets a ParameterDict's state from " + std::string(kind_name(state->k)));
      value* params = nullptr;
      for (const auto& [k, v] : state->entries)
        if (k->k == kind::text && k->s == "_parameters") params = v;
      if (!params || params->k != kind::dict) bad("holds a ParameterDict without a _parameters dict");
      target->k = kind::dict;
      target->entries = params->entries;
      break;
    }
    default: bad(std::string("sets the state of ") + kind_name(target->k));
  }
  target->built = true;
}

value* unpickler::load() {
  for (;;) {
    op_start_ = pos_;
    if (pos_ >= data_.size()) bad("ends before its STOP opcode (the file is truncated)");
    const auto op = static_cast<uint8_t>(data_[pos_++]);
    switch (op) {
      case 0x80: {  // PROTO
        const auto version = unsigned_le(1);
        if (version > 5) bad("uses pickle protocol " + std::to_string(version));
        break;
      }
      case 0x95:  // FRAME: only a hint for buffered readers
        if (unsigned_le(8) > data_.size() - pos_) bad("a frame runs past the end of the data (the file is truncated)");
        break;
      case '.': {  // STOP
        value* result = pop();
        return result;
      }
      case '(':
        if (marks_.size() >= max_marks) bad("opens too many MARKs");
        marks_.push_back(stack_.size());
        break;
      case '0': pop(); break;
      case '1': pop_mark(); break;
      case '2': push(top()); break;
      case '}': push(make(kind::dict)); break;
      case ']': push(make(kind::list)); break;
      case ')': push(make(kind::tuple)); break;
      case 't': {
        value* t = make(kind::tuple);
        t->items = pop_mark();
        push(t);
        break;
      }
      case 0x85: case 0x86: case 0x87: {  // TUPLE1..3
        value* t = make(kind::tuple);
        t->items.resize(op - 0x84);
        for (size_t k = t->items.size(); k-- > 0;) t->items[k] = pop();
        push(t);
        break;
      }
      case 'l': {
        value* l = make(kind::list);
        l->items = pop_mark();
        push(l);
        break;
      }
      case 'd': {
        value* d = make(kind::dict);
        set_items(d, pop_mark());
        push(d);
        break;
      }
      case 's': {
        value* v = pop();
        value* k = pop();
        set_items(top(), {k, v});
        break;
      }
      case 'u': {
        auto items = pop_mark();
        set_items(top(), items);
        break;
      }
      case 'a': {
        value* v = pop();
        append(top(), {v});
        break;
      }
      case 'e': {
        auto items = pop_mark();
        append(top(), items);
        break;
      }
      case 'J': push(make_int(static_cast<int32_t>(static_cast<uint32_t>(unsigned_le(4))))); break;
      case 'K': push(make_int(static_cast<int64_t>(unsigned_le(1)))); break;
      case 'M': push(make_int(static_cast<int64_t>(unsigned_le(2)))); break;
      case 0x8a: push(make_long(take(length(unsigned_le(1))))); break;
      case 0x8b: push(make_long(take(length(unsigned_le(4))))); break;
      case 'I': case 'L': {  // text ints; "I00"/"I01" are protocol 0's False and True
        std::string text(line());
        if (op == 'I' && (text == "00" || text == "01")) {
          value* v = make(kind::boolean);
          v->b = text == "01";
          push(v);
          break;
        }
        if (op == 'L' && !text.empty() && text.back() == 'L') text.pop_back();
        errno = 0;
        char* end = nullptr;
        const long long n = std::strtoll(text.c_str(), &end, 10);
        if (text.empty() || *end || errno) bad("a text integer '" + text + "' is not a 64-bit int");
        push(make_int(n));
        break;
      }
      case 'G': {  // BINFLOAT: big-endian double
        auto bytes = take(8);
        uint64_t bits = 0;
        for (char c : bytes) bits = (bits << 8) | uint8_t(c);
        value* v = make(kind::real);
        std::memcpy(&v->f, &bits, sizeof bits);
        push(v);
        break;
      }
      case 'F': {
        std::string text(line());
        char* end = nullptr;
        const double d = std::strtod(text.c_str(), &end);
        if (text.empty() || *end) bad("a text float '" + text + "' does not parse");
        value* v = make(kind::real);
        v->f = d;
        push(v);
        break;
      }
      case 0x88: case 0x89: {
        value* v = make(kind::boolean);
        v->b = op == 0x88;
        push(v);
        break;
      }
      case 'N': push(make(kind::none)); break;
      case 0x8c: case 'U': push(make_text(take(length(unsigned_le(1))))); break;  // SHORT_BINUNICODE, SHORT_BINSTRING
      case 'X': case 'T': push(make_text(take(length(unsigned_le(4))))); break;   // BINUNICODE, BINSTRING
      case 0x8d: push(make_text(take(length(unsigned_le(8))))); break;            // BINUNICODE8
      case 'C': push(make_text(take(length(unsigned_le(1))), kind::bytes)); break;
      case 'B': push(make_text(take(length(unsigned_le(4))), kind::bytes)); break;
      case 0x8e: push(make_text(take(length(unsigned_le(8))), kind::bytes)); break;
      case 'q': memo_put(unsigned_le(1)); break;
      case 'r': memo_put(unsigned_le(4)); break;
      case 0x94: memo_put(memo_.size()); break;
      case 'p': {
        std::string text(line());
        char* end = nullptr;
        const auto index = std::strtoull(text.c_str(), &end, 10);
        if (text.empty() || *end) bad("a memo index '" + text + "' does not parse");
        memo_put(index);
        break;
      }
      case 'h': push(memo_get(unsigned_le(1))); break;
      case 'j': push(memo_get(unsigned_le(4))); break;
      case 'g': {
        std::string text(line());
        char* end = nullptr;
        const auto index = std::strtoull(text.c_str(), &end, 10);
        if (text.empty() || *end) bad("a memo index '" + text + "' does not parse");
        push(memo_get(index));
        break;
      }
      case 'c': {  // GLOBAL "module\nname\n"
        std::string module(line());
        std::string name(line());
        push(make_global(module, name));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        value* name = pop();
        value* module = pop();
        if (name->k != kind::text || module->k != kind::text) bad("names a global with something other than strings");
        push(make_global(module->s, name->s));
        break;
      }
      case 'R': {  // REDUCE
        value* args = pop();
        value* func = pop();
        push(call(func, args));
        break;
      }
      case 0x81: {  // NEWOBJ: cls.__new__(cls, *args), for OrderedDict, ParameterDict and ModelCheckpoint only
        value* args = pop();
        value* cls = pop();
        const bool allowed = cls->k == kind::global && (cls->global == global_id::ordered_dict ||
                                                        cls->global == global_id::parameter_dict ||
                                                        cls->global == global_id::model_checkpoint);
        if (!allowed) bad("creates an instance of " + (cls->k == kind::global ? cls->s : std::string(kind_name(cls->k))));
        if (args->k != kind::tuple || !args->items.empty()) bad("creates an instance of " + cls->s + " with arguments");
        if (cls->global == global_id::ordered_dict) {
          push(make(kind::dict));
        } else {  // an empty instance; BUILD gives it its state
          value* v = make(kind::object);
          v->global = cls->global;
          v->s = cls->s;
          push(v);
        }
        break;
      }
      case 'b': {  // BUILD
        value* state = pop();
        build(top(), state);
        break;
      }
      case 0x8f: push(make(kind::list)); break;  // EMPTY_SET: a set is read as a list
      case 0x90: {                                // ADDITEMS
        auto items = pop_mark();
        append(top(), items);
        break;
      }
      case 0x91: {  // FROZENSET
        value* l = make(kind::list);
        l->items = pop_mark();
        push(l);
        break;
      }
      case 'Q': {  // BINPERSID: a storage
        value* pid = pop();
        push(load_persistent_(pid, [this](const std::string& m) { bad(m); }));
        break;
      }
      default: {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", op);
        bad(std::string("uses the pickle opcode ") + hex + ", which a torch.save file does not need");
      }
    }
  }
}

// --- flattening --------------------------------------------------------------------------------------

struct flattener {
  const std::string& file;
  unpickled& out;
  std::map<std::string, bool> seen;

  void claim(const std::string& key) {
    if (!seen.emplace(key, true).second) fail(file, "holds the key '" + key + "' twice");
  }
  static std::string join(const std::string& prefix, const std::string& key) {
    return prefix.empty() ? key : prefix + "." + key;
  }

  /// Lightning's ModelCheckpoint (the class, or an instance): read as None, its state dropped.
  static bool inert(const value* v) {
    return (v->k == kind::global || v->k == kind::object) && v->global == global_id::model_checkpoint;
  }

  void walk(const value* v, const std::string& key, int depth) {
    if (depth > max_depth) fail(file, "nests containers deeper than " + std::to_string(max_depth) + " levels");
    switch (v->k) {
      case kind::none: claim(key); out.scalars[key] = std::monostate{}; return;
      case kind::boolean: claim(key); out.scalars[key] = v->b; return;
      case kind::integer: claim(key); out.scalars[key] = v->i; return;
      case kind::real: claim(key); out.scalars[key] = v->f; return;
      case kind::text: case kind::bytes: claim(key); out.scalars[key] = v->s; return;
      case kind::tensor:
        claim(key);
        if (v->tensor) {
          const tensor_ref& t = *v->tensor;
          out.tensors.push_back({key, *t.storage, t.offset, t.sizes, t.strides});
        } else {
          out.arrays[key] = *v->array;
        }
        return;
      case kind::list: case kind::tuple:
        for (size_t k = 0; k < v->items.size(); ++k) walk(v->items[k], join(key, std::to_string(k)), depth + 1);
        return;
      case kind::dict:
        for (const auto& [k, item] : v->entries) {
          std::string name;
          if (k->k == kind::text) name = k->s;
          else if (k->k == kind::integer) name = std::to_string(k->i);
          else if (inert(k)) {  // Lightning's `callbacks` dict is keyed by the callback class: its state is dropped
            claim(join(key, "ModelCheckpoint"));
            out.scalars[join(key, "ModelCheckpoint")] = std::monostate{};
            continue;
          } else fail(file, "has a dict key that is " + std::string(kind_name(k->k)) + ", not a string or an int");
          walk(item, join(key, name), depth + 1);
        }
        return;
      case kind::global: case kind::object:
        if (inert(v)) {
          claim(key);
          out.scalars[key] = std::monostate{};
          return;
        }
        fail(file, "holds " + (v->k == kind::object ? "an instance of " + v->s + " that was never given its state"
                                                     : std::string(kind_name(v->k))) +
                       (key.empty() ? "" : " under '" + key + "'") + ", which is not a plain value or a tensor");
      case kind::big_integer: case kind::storage: case kind::np_dtype:
        fail(file, "holds " + std::string(kind_name(v->k)) + (key.empty() ? "" : " under '" + key + "'") +
                       ", which is not a plain value or a tensor");
    }
  }
};

bool plain_key(const std::string& key) {
  if (key.empty() || key.size() > 64) return false;
  for (char c : key)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}

const std::string legacy_magic("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10);

} // namespace

unpickled unpickle_zip_pickle(const std::string& file, std::string_view pickle) {
  heap h{file, {}, {}, {}};
  std::map<std::string, value*> storages;
  // Persistent ids of the zip format: ('storage', storage_type, key, location, numel).
  auto load_persistent = [&](value* pid, const std::function<void(const std::string&)>& bad) -> value* {
    if (pid->k != kind::tuple || pid->items.size() != 5) bad("has a persistent id that is not a storage");
    const auto& a = pid->items;
    if (a[0]->k != kind::text || a[0]->s != "storage") bad("has a persistent id that is not a storage");
    if (a[1]->k != kind::global || a[1]->global != global_id::storage_type) bad("names a storage without a storage type");
    if (a[2]->k != kind::text || !plain_key(a[2]->s)) bad("names a storage with an odd key");
    if (a[4]->k != kind::integer || a[4]->i < 0) bad("gives a storage a size that is not a count");
    auto it = storages.find(a[2]->s);
    if (it != storages.end()) return it->second;
    h.storages.push_back({a[2]->s, a[1]->dtype, 0, a[4]->i, false});
    value* v = h.make(kind::storage);
    v->storage = &h.storages.back();
    storages[a[2]->s] = v;
    return v;
  };
  unpickler up(h, pickle, 0, "data.pkl", load_persistent);
  value* root = up.load();

  unpickled out;
  flattener flat{file, out, {}};
  flat.walk(root, "", 0);
  return out;
}

legacy_pickles unpickle_legacy(const std::string& file, std::string_view data) {
  heap h{file, {}, {}, {}};
  auto no_persistent = [](value*, const std::function<void(const std::string&)>& bad) -> value* {
    bad("has a persistent id outside the object pickle");
    return nullptr;
  };

  unpickler magic(h, data, 0, "the magic-number pickle", no_persistent);
  value* m = magic.load();
  if (m->k != kind::big_integer || m->s != legacy_magic) fail(file, "is not a torch.save file (wrong magic number)");
  unpickler protocol(h, data, magic.position(), "the protocol pickle", no_persistent);
  value* p = protocol.load();
  if (p->k != kind::integer || p->i != 1001) fail(file, "has an unknown legacy protocol version");
  unpickler sys_info(h, data, protocol.position(), "the sys_info pickle", no_persistent);
  value* info = sys_info.load();
  if (info->k != kind::dict) fail(file, "has a sys_info pickle that is not a dict");
  for (const auto& [k, v] : info->entries)
    if (k->k == kind::text && k->s == "little_endian" && !(v->k == kind::boolean && v->b))
      fail(file, "was written on a big-endian machine, which is not supported");

  // Persistent ids: ('storage', storage_type, root_key, location, numel, view_metadata), where
  // view_metadata is None or (view_key, offset, view_size) in elements of the root storage.
  std::map<std::string, value*> storages;
  std::map<std::string, pickle_dtype> roots;
  auto load_persistent = [&](value* pid, const std::function<void(const std::string&)>& bad) -> value* {
    if (pid->k != kind::tuple || pid->items.empty()) bad("has a persistent id that is not a tuple");
    const auto& a = pid->items;
    if ((a[0]->k == kind::text || a[0]->k == kind::bytes) && a[0]->s == "module")
      bad("holds a pickled module (its source code), not plain values and tensors");
    if ((a[0]->k != kind::text && a[0]->k != kind::bytes) || a[0]->s != "storage" || a.size() != 6)
      bad("has a persistent id that is not a storage");
    if (a[1]->k != kind::global || a[1]->global != global_id::storage_type) bad("names a storage without a storage type");
    if (a[2]->k != kind::text || !plain_key(a[2]->s)) bad("names a storage with an odd key");
    if (a[4]->k != kind::integer || a[4]->i < 0) bad("gives a storage a size that is not a count");
    const std::string& root = a[2]->s;
    const pickle_dtype dtype = a[1]->dtype;
    auto known = roots.emplace(root, dtype).first;
    if (known->second != dtype) bad("reads storage '" + root + "' with two element types");
    std::string key = root;
    storage_ref ref{root, dtype, 0, a[4]->i, false};
    if (a[5]->k != kind::none) {
      const value* view = a[5];
      if (view->k != kind::tuple || view->items.size() != 3 || view->items[0]->k != kind::text ||
          view->items[1]->k != kind::integer || view->items[2]->k != kind::integer || !plain_key(view->items[0]->s))
        bad("has a storage view that is not (key, offset, size)");
      key = view->items[0]->s;
      ref = storage_ref{root, dtype, view->items[1]->i, view->items[2]->i, true};
    }
    auto it = storages.find(key);
    if (it != storages.end()) return it->second;
    h.storages.push_back(ref);
    value* v = h.make(kind::storage);
    v->storage = &h.storages.back();
    storages[key] = v;
    return v;
  };
  unpickler objects(h, data, sys_info.position(), "the object pickle", load_persistent);
  value* root = objects.load();
  unpickler keys(h, data, objects.position(), "the storage-key pickle", no_persistent);
  value* key_list = keys.load();
  if (key_list->k != kind::list) fail(file, "has a storage-key pickle that is not a list");

  // Each storage: its element count (int64) and then its bytes, in the order of the key list.
  legacy_pickles out;
  size_t pos = keys.position();
  for (const value* k : key_list->items) {
    if (k->k != kind::text) fail(file, "has a storage key that is not a string");
    auto dtype = roots.find(k->s);
    if (dtype == roots.end()) fail(file, "lists storage '" + k->s + "', which no tensor declared");
    if (data.size() - pos < 8) fail(file, "ends before storage '" + k->s + "' (the file is truncated)");
    uint64_t numel = 0;
    for (int b = 0; b < 8; ++b) numel |= uint64_t(uint8_t(data[pos + b])) << (8 * b);
    pos += 8;
    const auto bytes = static_cast<unsigned __int128>(numel) * pickle_dtype_size(dtype->second);
    if (bytes > data.size() - pos)
      fail(file, "ends inside storage '" + k->s + "' (" + std::to_string(numel) + " elements; the file is truncated)");
    out.spans[k->s] = {pos, static_cast<int64_t>(numel)};
    pos += static_cast<size_t>(bytes);
  }
  flattener flat{file, out.contents, {}};
  flat.walk(root, "", 0);
  return out;
}

} // namespace sdw
