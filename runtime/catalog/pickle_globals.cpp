// The globals a torch.save file may name, and what calling or building them does: the allow-list
// of the restricted unpickler (OrderedDict, torch's tensor and storage rebuilders, numpy arrays and
// scalars, codecs.encode, set, Lightning's ModelCheckpoint as an inert value).
#include "runtime/catalog/pickle_machine.hpp"

#include <algorithm>
#include <cstring>

namespace sdw::pickle {

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


} // namespace

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

} // namespace sdw::pickle
