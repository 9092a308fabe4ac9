#include "runtime/catalog/torch_pickle.hpp"

#include "runtime/catalog/pickle_machine.hpp"

#include <cctype>
#include <functional>
#include <map>
#include <string>

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

using namespace pickle;

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
