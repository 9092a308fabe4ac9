#include "runtime/engine/torch_file.hpp"

#include "runtime/base/errors.hpp"

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace sdw {
namespace {

// Bounds that no real torch.save file comes near; they keep a hostile file from exhausting memory.
constexpr size_t max_objects = 1'000'000;        // values built while unpickling
constexpr size_t max_marks = 10'000;             // open MARKs at once
constexpr int max_depth = 64;                    // nesting of dicts, lists and tuples
constexpr size_t max_dims = 32;                  // dimensions of one tensor
constexpr size_t max_pickle_bytes = size_t{1} << 30;
constexpr size_t max_text_line = 4096;           // GLOBAL names and text-encoded numbers
// A tensor may be larger than the file only by broadcasting (stride 0); that growth is capped here.
constexpr uint64_t min_tensor_byte_cap = uint64_t{64} << 20;

[[noreturn]] void fail(const std::string& file, const std::string& message) {
  throw error(errc::bad_request, file, message);
}

struct storage_ref {
  std::string root_key;     // the storage's record ("data/<key>") or, in a legacy file, its key list entry
  at::ScalarType dtype;
  int64_t offset = 0;       // elements into the root storage (legacy views)
  int64_t numel = 0;        // elements declared in the persistent id
  bool is_view = false;
};

struct tensor_ref {
  const storage_ref* storage = nullptr;
  int64_t offset = 0;
  std::vector<int64_t> sizes, strides;
};

enum class global_id {
  ordered_dict, torch_size, rebuild_tensor, rebuild_tensor_v2, rebuild_parameter,
  rebuild_parameter_with_state, storage_type,
};

enum class kind { none, boolean, integer, big_integer, real, text, bytes, list, tuple, dict, global, storage, tensor };

struct value {
  kind k = kind::none;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;                                 // text, bytes, a big integer's bytes, a global's name
  std::vector<value*> items;                     // list, tuple
  std::vector<std::pair<value*, value*>> entries;  // dict, in insertion order
  global_id global = global_id::ordered_dict;
  at::ScalarType dtype = at::kByte;              // a storage type's element type
  const storage_ref* storage = nullptr;
  const tensor_ref* tensor = nullptr;
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
  }
  return "a value";
}

struct storage_type_name {
  const char* name;
  at::ScalarType dtype;
};
constexpr storage_type_name storage_types[] = {
    {"FloatStorage", at::kFloat}, {"HalfStorage", at::kHalf},   {"BFloat16Storage", at::kBFloat16},
    {"DoubleStorage", at::kDouble}, {"LongStorage", at::kLong}, {"IntStorage", at::kInt},
    {"ShortStorage", at::kShort}, {"CharStorage", at::kChar},   {"ByteStorage", at::kByte},
    {"BoolStorage", at::kBool},
};

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
  } else if ((module == "torch" || module == "torch.storage") && name == "UntypedStorage") {
    v->global = global_id::storage_type;
    v->dtype = at::kByte;
  } else {
    bool found = false;
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
    case global_id::storage_type: break;
  }
  bad("calls " + func->s + ", which is only allowed to name a storage type");
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
      case 0x81: {  // NEWOBJ: cls.__new__(cls, *args), allowed for OrderedDict only
        value* args = pop();
        value* cls = pop();
        if (cls->k != kind::global || cls->global != global_id::ordered_dict)
          bad("creates an instance of " + (cls->k == kind::global ? cls->s : std::string(kind_name(cls->k))));
        if (args->k != kind::tuple || !args->items.empty()) bad("creates an OrderedDict with arguments");
        push(make(kind::dict));
        break;
      }
      case 'b': {  // BUILD: a state dict's OrderedDict carries `_metadata`, which holds no tensors
        value* state = pop();
        value* target = top();
        if (target->k != kind::dict) bad(std::string("sets the state of ") + kind_name(target->k));
        if (state->k != kind::dict && state->k != kind::none && state->k != kind::tuple)
          bad(std::string("sets an OrderedDict's state from ") + kind_name(state->k));
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

struct flat_tensor {
  std::string key;
  const tensor_ref* tensor;
};

struct flattener {
  const std::string& file;
  torch_file& out;
  std::vector<flat_tensor> tensors;
  std::map<std::string, bool> seen;

  void claim(const std::string& key) {
    if (!seen.emplace(key, true).second) fail(file, "holds the key '" + key + "' twice");
  }
  static std::string join(const std::string& prefix, const std::string& key) {
    return prefix.empty() ? key : prefix + "." + key;
  }

  void walk(const value* v, const std::string& key, int depth) {
    if (depth > max_depth) fail(file, "nests containers deeper than " + std::to_string(max_depth) + " levels");
    switch (v->k) {
      case kind::none: claim(key); out.scalars[key] = std::monostate{}; return;
      case kind::boolean: claim(key); out.scalars[key] = v->b; return;
      case kind::integer: claim(key); out.scalars[key] = v->i; return;
      case kind::real: claim(key); out.scalars[key] = v->f; return;
      case kind::text: case kind::bytes: claim(key); out.scalars[key] = v->s; return;
      case kind::tensor: claim(key); tensors.push_back({key, v->tensor}); return;
      case kind::list: case kind::tuple:
        for (size_t k = 0; k < v->items.size(); ++k) walk(v->items[k], join(key, std::to_string(k)), depth + 1);
        return;
      case kind::dict:
        for (const auto& [k, item] : v->entries) {
          std::string name;
          if (k->k == kind::text) name = k->s;
          else if (k->k == kind::integer) name = std::to_string(k->i);
          else fail(file, "has a dict key that is " + std::string(kind_name(k->k)) + ", not a string or an int");
          walk(item, join(key, name), depth + 1);
        }
        return;
      case kind::big_integer: case kind::global: case kind::storage:
        fail(file, "holds " + std::string(kind_name(v->k)) + (key.empty() ? "" : " under '" + key + "'") +
                       ", which is not a plain value or a tensor");
    }
  }
};

std::string first_line(const char* what) {
  std::string s(what);
  return s.substr(0, std::min(s.find('\n'), size_t{300}));
}

int64_t element_size(at::ScalarType dtype) { return static_cast<int64_t>(c10::elementSize(dtype)); }

/// Copies one tensor out of its root storage (`storage_numel` elements in `buffer`), checking its extent.
at::Tensor materialize(const std::string& file, const flat_tensor& ft, const at::Tensor& buffer, int64_t storage_numel,
                       uint64_t byte_cap) {
  const tensor_ref& t = *ft.tensor;
  const storage_ref& s = *t.storage;
  const std::string what = "tensor '" + ft.key + "'";
  if (s.is_view && (s.offset < 0 || s.numel < 0 || s.offset > storage_numel || s.numel > storage_numel - s.offset))
    fail(file, what + " views past the end of its storage");
  const int64_t limit = s.is_view ? s.numel : storage_numel;
  if (t.offset < 0) fail(file, what + " has a negative storage offset");
  unsigned __int128 numel = 1, last = static_cast<uint64_t>(t.offset);
  for (size_t d = 0; d < t.sizes.size(); ++d) {
    if (t.sizes[d] < 0 || t.strides[d] < 0) fail(file, what + " has a negative size or stride");
    numel *= static_cast<uint64_t>(t.sizes[d]);
    if (numel * static_cast<uint64_t>(element_size(s.dtype)) > byte_cap)
      fail(file, what + " is larger than the file could hold");
    if (t.sizes[d] > 0) last += static_cast<unsigned __int128>(t.sizes[d] - 1) * static_cast<uint64_t>(t.strides[d]);
  }
  const auto options = at::TensorOptions().dtype(s.dtype);
  if (numel == 0) return at::empty(t.sizes, options);
  if (last >= static_cast<uint64_t>(limit))
    fail(file, what + " reaches element " + std::to_string(static_cast<uint64_t>(last)) + " of a storage of " +
                   std::to_string(limit) + " elements (the storage is too short)");
  return buffer.as_strided(t.sizes, t.strides, (s.is_view ? s.offset : 0) + t.offset).clone(at::MemoryFormat::Contiguous);
}

/// Builds every tensor, one root storage at a time, so that only one storage's bytes are held at once.
void materialize_all(const std::string& file, std::vector<flat_tensor>& tensors, torch_file& out, uint64_t file_size,
                     const std::function<at::Tensor(const std::string& root_key, at::ScalarType dtype)>& load_root) {
  std::map<std::string, std::vector<const flat_tensor*>> by_root;
  for (const auto& ft : tensors) by_root[ft.tensor->storage->root_key].push_back(&ft);
  const uint64_t byte_cap = std::max(file_size, min_tensor_byte_cap);
  for (const auto& [root, users] : by_root) {
    const at::ScalarType dtype = users.front()->tensor->storage->dtype;
    for (const auto* ft : users)
      if (ft->tensor->storage->dtype != dtype) fail(file, "storage '" + root + "' is read with two element types");
    try {
      const at::Tensor buffer = load_root(root, dtype);
      for (const auto* ft : users) out.tensors[ft->key] = materialize(file, *ft, buffer, buffer.numel(), byte_cap);
    } catch (const error&) {
      throw;
    } catch (const std::exception& e) {  // libtorch's own checks and allocation failures
      fail(file, "cannot build the tensors of storage '" + root + "': " + first_line(e.what()));
    }
  }
}

// --- the zip archive (torch >= 1.6) -------------------------------------------------------------------

bool plain_key(const std::string& key) {
  if (key.empty() || key.size() > 64) return false;
  for (char c : key)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}

torch_file read_zip(const std::string& file, uint64_t file_size) {
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> zip;
  std::string pickle;
  try {
    zip = std::make_unique<caffe2::serialize::PyTorchStreamReader>(file);
    if (zip->hasRecord("byteorder")) {
      const size_t n = zip->getRecordSize("byteorder");
      if (n > 16) fail(file, "has an unknown byteorder record");
      std::string order(n, '\0');
      zip->getRecord("byteorder", order.data(), n);
      if (order == "big") fail(file, "was written on a big-endian machine, which is not supported");
      if (order != "little") fail(file, "has an unknown byteorder '" + order + "'");
    }
    if (!zip->hasRecord("data.pkl")) fail(file, "is a zip archive without data.pkl (not a torch.save file)");
    const size_t n = zip->getRecordSize("data.pkl");
    if (n > file_size || n > max_pickle_bytes) fail(file, "has a data.pkl record larger than the file");
    pickle.resize(n);
    zip->getRecord("data.pkl", pickle.data(), n);
  } catch (const error&) {
    throw;
  } catch (const std::exception& e) {
    fail(file, "is not a readable torch.save zip archive: " + first_line(e.what()));
  }

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

  torch_file out;
  flattener flat{file, out, {}, {}};
  flat.walk(root, "", 0);
  materialize_all(file, flat.tensors, out, file_size, [&](const std::string& key, at::ScalarType dtype) {
    const storage_ref& s = *storages.at(key)->storage;
    const std::string record = "data/" + key;
    try {
      if (!zip->hasRecord(record)) fail(file, "has no record " + record + " for a storage its tensors use");
      const size_t n = zip->getRecordSize(record);
      const auto expected = static_cast<unsigned __int128>(s.numel) * element_size(dtype);
      if (n != expected)
        fail(file, "record " + record + " holds " + std::to_string(n) + " bytes, its storage needs " +
                       std::to_string(static_cast<uint64_t>(expected)));
      if (n > file_size) fail(file, "record " + record + " is larger than the file");
      at::Tensor buffer = at::empty({s.numel}, at::TensorOptions().dtype(dtype));
      if (n) zip->getRecord(record, buffer.data_ptr(), n);
      return buffer;
    } catch (const error&) {
      throw;
    } catch (const std::exception& e) {
      fail(file, "cannot read record " + record + ": " + first_line(e.what()));
    }
  });
  return out;
}

// --- the legacy stream (torch < 1.6) ------------------------------------------------------------------

/// A read-only mapping of the whole file.
struct mapped_file {
  const char* data = nullptr;
  size_t size = 0;
  explicit mapped_file(const std::string& file) {
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(file, std::string("cannot be opened: ") + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || st.st_size <= 0) {
      ::close(fd);
      fail(file, "is empty or cannot be read");
    }
    size = static_cast<size_t>(st.st_size);
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) fail(file, std::string("cannot be mapped: ") + std::strerror(errno));
    data = static_cast<const char*>(p);
  }
  ~mapped_file() {
    if (data) ::munmap(const_cast<char*>(data), size);
  }
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
};

// torch.serialization's MAGIC_NUMBER 0x1950a86a20f9469cfc6c, as LONG1 writes it (little-endian).
const std::string legacy_magic("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10);

torch_file read_legacy(const std::string& file) {
  mapped_file map(file);
  const std::string_view data(map.data, map.size);
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
  std::map<std::string, at::ScalarType> roots;
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
    const at::ScalarType dtype = a[1]->dtype;
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
  struct span {
    size_t offset;
    int64_t numel;
  };
  std::map<std::string, span> spans;
  size_t pos = keys.position();
  for (const value* k : key_list->items) {
    if (k->k != kind::text) fail(file, "has a storage key that is not a string");
    auto dtype = roots.find(k->s);
    if (dtype == roots.end()) fail(file, "lists storage '" + k->s + "', which no tensor declared");
    if (data.size() - pos < 8) fail(file, "ends before storage '" + k->s + "' (the file is truncated)");
    uint64_t numel = 0;
    for (int b = 0; b < 8; ++b) numel |= uint64_t(uint8_t(data[pos + b])) << (8 * b);
    pos += 8;
    const auto bytes = static_cast<unsigned __int128>(numel) * element_size(dtype->second);
    if (bytes > data.size() - pos)
      fail(file, "ends inside storage '" + k->s + "' (" + std::to_string(numel) + " elements; the file is truncated)");
    spans[k->s] = {pos, static_cast<int64_t>(numel)};
    pos += static_cast<size_t>(bytes);
  }

  torch_file out;
  flattener flat{file, out, {}, {}};
  flat.walk(root, "", 0);
  materialize_all(file, flat.tensors, out, map.size, [&](const std::string& key, at::ScalarType dtype) {
    auto it = spans.find(key);
    if (it == spans.end()) fail(file, "has no data for storage '" + key + "'");
    at::Tensor buffer = at::empty({it->second.numel}, at::TensorOptions().dtype(dtype));
    std::memcpy(buffer.data_ptr(), data.data() + it->second.offset, buffer.nbytes());
    return buffer;
  });
  return out;
}

} // namespace

torch_file read_torch_file(const std::filesystem::path& path) {
  const std::string file = path.string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw error(errc::not_found, file, "no such file");
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) fail(file, "cannot be read: " + ec.message());
  std::ifstream in(path, std::ios::binary);
  char head[262] = {};
  in.read(head, sizeof head);
  const auto got = static_cast<size_t>(in.gcount());
  if (got >= 4 && std::memcmp(head, "PK\x03\x04", 4) == 0) return read_zip(file, size);
  if (got >= 262 && std::memcmp(head + 257, "ustar", 5) == 0)
    fail(file, "is a tar archive of torch < 0.4, which is not supported; re-save it with a newer torch");
  if (got >= 2 && static_cast<uint8_t>(head[0]) == 0x80) return read_legacy(file);
  fail(file, "is not a torch.save file (neither a zip archive nor a legacy pickle)");
}

} // namespace sdw
