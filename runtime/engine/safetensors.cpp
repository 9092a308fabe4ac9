#include "runtime/engine/safetensors.hpp"

#include "runtime/base/errors.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace sdw {

namespace {

constexpr uint64_t max_header_bytes = 100ull << 20;

[[noreturn]] void fail(const std::string& path, const std::string& message) {
  throw error(errc::bad_checkpoint, path, message);
}

[[noreturn]] void fail_tensor(const std::string& path, std::string_view name, const std::string& message) {
  fail(path, "tensor '" + std::string(name) + "': " + message);
}

// Closes the descriptor on every exit path of open().
struct fd_guard {
  int fd;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

bool is_pickle_checkpoint(const uint8_t* head, size_t n) {
  // torch.save writes a zip archive since 1.6 and a bare pickle (protocol 2..5) before.
  if (n >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) return true;
  return n >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5;
}

std::string pickle_message() {
  return "is a PyTorch pickle checkpoint (.ckpt/.pt/.bin); pickles are not loaded because they can run "
         "code; convert it to .safetensors (in Python: safetensors.torch.save_file(state_dict, "
         "\"model.safetensors\")) and use that file";
}

std::vector<int64_t> read_shape(const std::string& path, std::string_view name, simdjson::dom::element value) {
  simdjson::dom::array arr;
  if (value.get_array().get(arr)) fail_tensor(path, name, "'shape' is not an array");
  std::vector<int64_t> shape;
  for (auto dim : arr) {
    int64_t d = 0;
    if (dim.get_int64().get(d)) fail_tensor(path, name, "'shape' holds something that is not an integer");
    if (d < 0) fail_tensor(path, name, "'shape' has a negative dimension " + std::to_string(d));
    shape.push_back(d);
  }
  return shape;
}

// numel * element size without overflow; nullopt when it does not fit in 64 bits.
std::optional<uint64_t> byte_count(const std::vector<int64_t>& shape, size_t elem) {
  uint64_t n = elem;
  for (int64_t d : shape) {
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) return std::nullopt;
  }
  return n;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

bool has_pickle_extension(const std::string& path) {
  for (const char* ext : {".ckpt", ".pt", ".pth", ".bin"}) {
    size_t n = std::strlen(ext);
    if (path.size() >= n && path.compare(path.size() - n, n, ext) == 0) return true;
  }
  return false;
}

} // namespace

std::shared_ptr<safetensors_file> safetensors_file::open(const std::string& path) {
  try {
    return open_checked(path);
  } catch (const error& e) {
    // A .ckpt that is not a recognisable pickle is still most likely one.
    if (e.code() != errc::bad_checkpoint || !has_pickle_extension(path) ||
        e.message().find("convert it to .safetensors") != std::string::npos)
      throw;
    throw error(errc::bad_checkpoint, path,
                e.message() + " (the name suggests a PyTorch pickle checkpoint; convert it to .safetensors)");
  }
}

std::shared_ptr<safetensors_file> safetensors_file::open_checked(const std::string& path) {
  fd_guard fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.fd < 0) {
    int e = errno;
    throw error(e == ENOENT ? errc::not_found : errc::bad_checkpoint, path,
                std::string("cannot open checkpoint: ") + std::strerror(e));
  }
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0) fail(path, std::string("cannot stat checkpoint: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail(path, "is not a regular file");
  const uint64_t size = static_cast<uint64_t>(st.st_size);

  uint8_t head[8] = {};
  const size_t head_n = static_cast<size_t>(std::min<uint64_t>(size, 8));
  if (head_n > 0 && ::pread(fd.fd, head, head_n, 0) != static_cast<ssize_t>(head_n))
    fail(path, std::string("cannot read checkpoint: ") + std::strerror(errno));
  if (is_pickle_checkpoint(head, head_n)) fail(path, pickle_message());
  if (size < 8)
    fail(path, "file is " + std::to_string(size) + " bytes, shorter than the 8-byte safetensors header length");

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | head[i];
  if (header_len > max_header_bytes)
    fail(path, "header length " + std::to_string(header_len) + " is absurd (over 100 MiB); not a safetensors file?");
  if (header_len > size - 8)
    fail(path, "header length " + std::to_string(header_len) + " runs past the end of the file (" +
                   std::to_string(size) + " bytes)");

  std::shared_ptr<safetensors_file> file(new safetensors_file());
  file->path_ = path;
  // MAP_POPULATE maps the whole file in one call: much cheaper than a fault per page.
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd.fd, 0);
  if (map == MAP_FAILED) fail(path, std::string("cannot map checkpoint: ") + std::strerror(errno));
  file->base_ = static_cast<const uint8_t*>(map);
  file->size_ = size;
  ::madvise(map, size, MADV_WILLNEED);

  simdjson::padded_string header(reinterpret_cast<const char*>(file->base_ + 8), header_len);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto err = parser.parse(header).get(root))
    fail(path, std::string("header is not valid JSON (") + simdjson::error_message(err) + ")");
  simdjson::dom::object top;
  if (root.get_object().get(top)) fail(path, "header is not a JSON object");

  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = size - data_start;
  std::set<std::string_view> seen;
  for (auto field : top) {
    std::string_view key = field.key;
    if (!seen.insert(key).second) fail_tensor(path, key, "appears twice in the header");
    if (key == "__metadata__") {
      simdjson::dom::object meta;
      if (field.value.get_object().get(meta)) fail(path, "__metadata__ is not a JSON object");
      for (auto m : meta) {
        std::string_view v;
        if (m.value.get_string().get(v))
          fail(path, "__metadata__ value '" + std::string(m.key) + "' is not a string");
        file->metadata_[std::string(m.key)] = std::string(v);
      }
      continue;
    }
    simdjson::dom::object entry;
    if (field.value.get_object().get(entry)) fail_tensor(path, key, "header entry is not a JSON object");

    simdjson::dom::element dtype_v, shape_v, offsets_v;
    if (entry["dtype"].get(dtype_v)) fail_tensor(path, key, "header entry has no 'dtype'");
    if (entry["shape"].get(shape_v)) fail_tensor(path, key, "header entry has no 'shape'");
    if (entry["data_offsets"].get(offsets_v)) fail_tensor(path, key, "header entry has no 'data_offsets'");

    std::string_view dtype_name;
    if (dtype_v.get_string().get(dtype_name)) fail_tensor(path, key, "'dtype' is not a string");
    auto dtype = parse_st_dtype(dtype_name);
    if (!dtype) fail_tensor(path, key, "unknown dtype '" + std::string(dtype_name) + "'");

    st_tensor t;
    t.name = std::string(key);
    t.dtype = *dtype;
    t.shape = read_shape(path, key, shape_v);

    simdjson::dom::array offs;
    if (offsets_v.get_array().get(offs) || offs.size() != 2)
      fail_tensor(path, key, "'data_offsets' is not an array of two integers");
    uint64_t begin = 0, end = 0;
    if (offs.at(0).get_uint64().get(begin) || offs.at(1).get_uint64().get(end))
      fail_tensor(path, key, "'data_offsets' holds something that is not a non-negative integer");
    if (end < begin)
      fail_tensor(path, key, "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "] are reversed");
    if (end > data_size)
      fail_tensor(path, key, "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                                 "] run past the end of the data section (" + std::to_string(data_size) + " bytes)");
    auto expected = byte_count(t.shape, dtype_size(t.dtype));
    if (!expected) fail_tensor(path, key, "shape " + shape_string(t.shape) + " is too large");
    if (*expected != end - begin)
      fail_tensor(path, key, "holds " + std::to_string(end - begin) + " bytes but shape " + shape_string(t.shape) +
                                 " of " + to_string(t.dtype) + " needs " + std::to_string(*expected));
    t.data = file->base_ + data_start + begin;
    t.nbytes = static_cast<size_t>(end - begin);
    file->tensors_.push_back(std::move(t));
  }

  auto& ts = file->tensors_;
  std::stable_sort(ts.begin(), ts.end(), [](const st_tensor& a, const st_tensor& b) { return a.data < b.data; });
  const st_tensor* prev = nullptr;  // the non-empty tensor that ends last so far
  for (const auto& t : ts) {
    if (t.nbytes == 0) continue;
    if (prev && t.data < prev->data + prev->nbytes)
      fail_tensor(path, t.name, "data overlaps tensor '" + prev->name + "'");
    if (!prev || t.data + t.nbytes > prev->data + prev->nbytes) prev = &t;
  }
  for (size_t i = 0; i < ts.size(); ++i) file->index_.emplace(ts[i].name, i);
  return file;
}

std::shared_ptr<safetensors_file> safetensors_file::from_memory(const std::string& path, uint64_t file_size,
                                                               std::vector<st_tensor> tensors,
                                                               std::shared_ptr<const void> owner) {
  std::shared_ptr<safetensors_file> file(new safetensors_file());
  file->path_ = path;
  file->size_ = file_size;
  file->owner_ = std::move(owner);
  for (const st_tensor& t : tensors) {
    auto expected = byte_count(t.shape, dtype_size(t.dtype));
    if (!expected || *expected != t.nbytes)
      fail_tensor(path, t.name, "holds " + std::to_string(t.nbytes) + " bytes but shape " + shape_string(t.shape) +
                                    " of " + to_string(t.dtype) + " needs another count");
  }
  file->tensors_ = std::move(tensors);
  for (size_t i = 0; i < file->tensors_.size(); ++i) {
    if (!file->index_.emplace(file->tensors_[i].name, i).second)
      fail_tensor(path, file->tensors_[i].name, "appears twice");
  }
  return file;
}

safetensors_file::~safetensors_file() {
  if (base_) ::munmap(const_cast<uint8_t*>(base_), size_);
}

const st_tensor* safetensors_file::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

} // namespace sdw
