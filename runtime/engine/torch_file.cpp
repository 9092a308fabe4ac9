#include "runtime/engine/torch_file.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/catalog/torch_pickle.hpp"

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

constexpr size_t max_pickle_bytes = size_t{1} << 30;
// A tensor may be larger than the file only by broadcasting (stride 0); that growth is capped here.
constexpr uint64_t min_tensor_byte_cap = uint64_t{64} << 20;

[[noreturn]] void fail(const std::string& file, const std::string& message) {
  throw error(errc::bad_request, file, message);
}

std::string first_line(const char* what) {
  std::string s(what);
  return s.substr(0, std::min(s.find('\n'), size_t{300}));
}

at::ScalarType scalar_type(pickle_dtype d) {
  switch (d) {
    case pickle_dtype::f32: return at::kFloat;
    case pickle_dtype::f16: return at::kHalf;
    case pickle_dtype::bf16: return at::kBFloat16;
    case pickle_dtype::f64: return at::kDouble;
    case pickle_dtype::i64: return at::kLong;
    case pickle_dtype::i32: return at::kInt;
    case pickle_dtype::i16: return at::kShort;
    case pickle_dtype::i8: return at::kChar;
    case pickle_dtype::u8: return at::kByte;
    case pickle_dtype::b8: return at::kBool;
  }
  return at::kByte;
}

/// The scalars, and the numpy arrays as tensors (a Fortran-order array made C-contiguous).
torch_file plain_values(const std::string& file, const unpickled& contents) {
  torch_file out;
  out.scalars = contents.scalars;
  for (const auto& [key, a] : contents.arrays) {
    try {
      std::vector<int64_t> sizes = a.sizes;
      if (a.fortran) std::reverse(sizes.begin(), sizes.end());
      at::Tensor t = at::empty(sizes, at::TensorOptions().dtype(scalar_type(a.dtype)));
      if (!a.bytes.empty()) std::memcpy(t.data_ptr(), a.bytes.data(), a.bytes.size());
      if (a.fortran) {
        std::vector<int64_t> order(sizes.size());
        for (size_t d = 0; d < order.size(); ++d) order[d] = static_cast<int64_t>(order.size() - 1 - d);
        t = t.permute(order).contiguous();
      }
      if (a.cast) t = t.to(scalar_type(*a.cast)).contiguous();
      out.tensors[key] = t;
    } catch (const std::exception& e) {
      fail(file, "cannot build the numpy array '" + key + "': " + first_line(e.what()));
    }
  }
  return out;
}

/// Copies one tensor out of its root storage (`storage_numel` elements in `buffer`), checking its extent.
at::Tensor materialize(const std::string& file, const pickled_tensor& t, const at::Tensor& buffer, int64_t storage_numel,
                       uint64_t byte_cap) {
  const pickled_storage& s = t.storage;
  const std::string what = "tensor '" + t.key + "'";
  if (s.is_view && (s.offset < 0 || s.numel < 0 || s.offset > storage_numel || s.numel > storage_numel - s.offset))
    fail(file, what + " views past the end of its storage");
  const int64_t limit = s.is_view ? s.numel : storage_numel;
  if (t.offset < 0) fail(file, what + " has a negative storage offset");
  unsigned __int128 numel = 1, last = static_cast<uint64_t>(t.offset);
  for (size_t d = 0; d < t.sizes.size(); ++d) {
    if (t.sizes[d] < 0 || t.strides[d] < 0) fail(file, what + " has a negative size or stride");
    numel *= static_cast<uint64_t>(t.sizes[d]);
    if (numel * pickle_dtype_size(s.dtype) > byte_cap) fail(file, what + " is larger than the file could hold");
    if (t.sizes[d] > 0) last += static_cast<unsigned __int128>(t.sizes[d] - 1) * static_cast<uint64_t>(t.strides[d]);
  }
  const auto options = at::TensorOptions().dtype(scalar_type(s.dtype));
  if (numel == 0) return at::empty(t.sizes, options);
  if (last >= static_cast<uint64_t>(limit))
    fail(file, what + " reaches element " + std::to_string(static_cast<uint64_t>(last)) + " of a storage of " +
                   std::to_string(limit) + " elements (the storage is too short)");
  return buffer.as_strided(t.sizes, t.strides, (s.is_view ? s.offset : 0) + t.offset).clone(at::MemoryFormat::Contiguous);
}

/// Builds every tensor, one root storage at a time, so that only one storage's bytes are held at once.
void materialize_all(const std::string& file, const std::vector<pickled_tensor>& tensors, torch_file& out,
                     uint64_t file_size, const std::function<at::Tensor(const pickled_storage& root)>& load_root) {
  std::map<std::string, std::vector<const pickled_tensor*>> by_root;
  for (const auto& t : tensors) by_root[t.storage.root_key].push_back(&t);
  const uint64_t byte_cap = std::max(file_size, min_tensor_byte_cap);
  for (const auto& [root, users] : by_root) {
    const pickle_dtype dtype = users.front()->storage.dtype;
    for (const auto* t : users)
      if (t->storage.dtype != dtype) fail(file, "storage '" + root + "' is read with two element types");
    try {
      const at::Tensor buffer = load_root(users.front()->storage);
      for (const auto* t : users) out.tensors[t->key] = materialize(file, *t, buffer, buffer.numel(), byte_cap);
    } catch (const error&) {
      throw;
    } catch (const std::exception& e) {  // libtorch's own checks and allocation failures
      fail(file, "cannot build the tensors of storage '" + root + "': " + first_line(e.what()));
    }
  }
}

// --- the zip archive (torch >= 1.6) -------------------------------------------------------------------

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

  unpickled contents = unpickle_zip_pickle(file, pickle);
  torch_file out = plain_values(file, contents);
  materialize_all(file, contents.tensors, out, file_size, [&](const pickled_storage& s) {
    const std::string& key = s.root_key;
    const at::ScalarType dtype = scalar_type(s.dtype);
    const std::string record = "data/" + key;
    try {
      if (!zip->hasRecord(record)) fail(file, "has no record " + record + " for a storage its tensors use");
      const size_t n = zip->getRecordSize(record);
      const auto expected = static_cast<unsigned __int128>(s.numel) * pickle_dtype_size(s.dtype);
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
torch_file read_legacy(const std::string& file) {
  mapped_file map(file);
  const std::string_view data(map.data, map.size);
  legacy_pickles pickles = unpickle_legacy(file, data);
  torch_file out = plain_values(file, pickles.contents);
  materialize_all(file, pickles.contents.tensors, out, map.size, [&](const pickled_storage& s) {
    auto it = pickles.spans.find(s.root_key);
    if (it == pickles.spans.end()) fail(file, "has no data for storage '" + s.root_key + "'");
    at::Tensor buffer = at::empty({it->second.numel}, at::TensorOptions().dtype(scalar_type(s.dtype)));
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
