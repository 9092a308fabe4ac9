#include "runtime/engine/safetensors.hpp"

#include "runtime/base/errors.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace sdw {

namespace {

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

  char head[8] = {};
  const size_t head_n = static_cast<size_t>(std::min<uint64_t>(size, 8));
  if (head_n > 0 && ::pread(fd.fd, head, head_n, 0) != static_cast<ssize_t>(head_n))
    fail(path, std::string("cannot read checkpoint: ") + std::strerror(errno));
  const uint64_t header_len = safetensors_header_length(std::string_view(head, head_n), size, path);

  std::shared_ptr<safetensors_file> file(new safetensors_file());
  file->path_ = path;
  // MAP_POPULATE maps the whole file in one call: much cheaper than a fault per page.
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd.fd, 0);
  if (map == MAP_FAILED) fail(path, std::string("cannot map checkpoint: ") + std::strerror(errno));
  file->base_ = static_cast<const uint8_t*>(map);
  file->size_ = size;
  ::madvise(map, size, MADV_WILLNEED);

  safetensors_header header = parse_safetensors_header(
      std::string_view(reinterpret_cast<const char*>(file->base_ + 8), header_len), size, path);
  file->metadata_ = std::move(header.metadata);
  auto& ts = file->tensors_;
  for (st_header_entry& e : header.tensors) {
    st_tensor t;
    t.name = std::move(e.name);
    t.dtype = e.dtype;
    t.shape = std::move(e.shape);
    t.data = file->base_ + header.data_start + e.begin;
    t.nbytes = static_cast<size_t>(e.end - e.begin);
    ts.push_back(std::move(t));
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
    auto expected = st_byte_count(t.shape, t.dtype);
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
