// Tensor element access and the safetensors writer.
#include "runtime/engine/safetensors.hpp"

#include "runtime/base/errors.hpp"

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <set>

#include <fcntl.h>
#include <unistd.h>

namespace sdw {

int64_t st_tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

void copy_as_float(const st_tensor& t, float* out) {
  const size_t n = static_cast<size_t>(t.numel());
  const uint8_t* p = t.data;
  switch (t.dtype) {
    case st_dtype::f32: std::memcpy(out, p, n * 4); return;
    case st_dtype::f64:
      for (size_t i = 0; i < n; ++i) {
        double v;
        std::memcpy(&v, p + 8 * i, 8);
        out[i] = static_cast<float>(v);
      }
      return;
    case st_dtype::f16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t bits;
        std::memcpy(&bits, p + 2 * i, 2);
        out[i] = c10::detail::fp16_ieee_to_fp32_value(bits);
      }
      return;
    case st_dtype::bf16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t bits;
        std::memcpy(&bits, p + 2 * i, 2);
        out[i] = c10::detail::f32_from_bits(bits);
      }
      return;
    default:
      throw error(errc::bad_checkpoint, t.name,
                  std::string("tensor '") + t.name + "': expected floating point, found " + to_string(t.dtype));
  }
}

namespace {

// The order of the reference library's dtype enum; files list tensors by it, widest first.
int dtype_rank(st_dtype d) {
  switch (d) {
    case st_dtype::boolean: return 0;
    case st_dtype::u8: return 1;
    case st_dtype::i8: return 2;
    case st_dtype::i16: return 5;
    case st_dtype::f16: return 7;
    case st_dtype::bf16: return 8;
    case st_dtype::i32: return 9;
    case st_dtype::f32: return 11;
    case st_dtype::f64: return 12;
    case st_dtype::i64: return 13;
  }
  return 0;
}

void json_string(std::string& out, std::string_view s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

struct header_item {
  const std::string* name;
  st_dtype dtype;
  const std::vector<int64_t>* shape;
  uint64_t nbytes;
  size_t index;  // position in the caller's list
};

// Checks the entries, orders them like the reference library and returns the padded header.
std::string build_header(std::vector<header_item>& items, const std::map<std::string, std::string>& metadata) {
  std::set<std::string_view> names;
  for (const auto& it : items) {
    if (*it.name == "__metadata__") throw error(errc::bad_request, *it.name, "reserved tensor name");
    if (!names.insert(*it.name).second) throw error(errc::bad_request, *it.name, "tensor name given twice");
    uint64_t expect = dtype_size(it.dtype);
    for (int64_t d : *it.shape) {
      if (d < 0) throw error(errc::bad_request, *it.name, "negative dimension");
      expect *= static_cast<uint64_t>(d);
    }
    if (expect != it.nbytes)
      throw error(errc::bad_request, *it.name,
                  "has " + std::to_string(it.nbytes) + " bytes, its shape needs " + std::to_string(expect));
  }
  std::sort(items.begin(), items.end(), [](const header_item& a, const header_item& b) {
    int ra = dtype_rank(a.dtype), rb = dtype_rank(b.dtype);
    return ra != rb ? ra > rb : *a.name < *b.name;
  });

  std::string h = "{";
  bool first = true;
  if (!metadata.empty()) {
    h += "\"__metadata__\":{";
    for (const auto& [k, v] : metadata) {
      if (!first) h += ',';
      first = false;
      json_string(h, k);
      h += ':';
      json_string(h, v);
    }
    h += '}';
    first = false;
  }
  uint64_t offset = 0;
  for (const auto& it : items) {
    if (!first) h += ',';
    first = false;
    json_string(h, *it.name);
    h += ":{\"dtype\":\"";
    h += to_string(it.dtype);
    h += "\",\"shape\":[";
    for (size_t i = 0; i < it.shape->size(); ++i) h += (i ? "," : "") + std::to_string((*it.shape)[i]);
    h += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + it.nbytes) + "]}";
    offset += it.nbytes;
  }
  h += '}';
  h.append((8 - h.size() % 8) % 8, ' ');
  return h;
}

// A temporary file beside the target, renamed over it on commit and removed otherwise.
class temp_output {
public:
  explicit temp_output(const std::string& path) : path_(path), tmp_(path + ".tmp" + std::to_string(::getpid()) + "." + std::to_string(counter_++)) {
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) fail("cannot create");
  }
  ~temp_output() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_.c_str());
  }
  void write(const void* data, size_t n) {
    auto p = static_cast<const char*>(data);
    while (n > 0) {
      ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        fail("cannot write");
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
  }
  void commit() {
    if (::close(fd_) != 0) {
      fd_ = -1;
      fail("cannot write");
    }
    fd_ = -1;
    if (::rename(tmp_.c_str(), path_.c_str()) != 0) fail("cannot rename the temporary file onto");
    committed_ = true;
  }

private:
  [[noreturn]] void fail(const char* what) {
    throw error(errc::internal, path_, std::string(what) + " checkpoint file: " + std::strerror(errno));
  }
  static inline std::atomic<unsigned> counter_{0};  // distinct names for concurrent writers
  std::string path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

void write_header(temp_output& out, const std::string& header) {
  uint8_t len[8];
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  out.write(len, 8);
  out.write(header.data(), header.size());
}

} // namespace

void write_safetensors(const std::string& path, const std::vector<st_write_entry>& entries,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<header_item> items;
  for (size_t i = 0; i < entries.size(); ++i)
    items.push_back({&entries[i].name, entries[i].dtype, &entries[i].shape, entries[i].bytes.size(), i});
  std::string header = build_header(items, metadata);
  temp_output out(path);
  write_header(out, header);
  for (const auto& it : items) out.write(entries[it.index].bytes.data(), entries[it.index].bytes.size());
  out.commit();
}

void write_safetensors_streamed(const std::string& path, const std::vector<st_stream_entry>& entries,
                                const std::map<std::string, std::string>& metadata) {
  std::vector<header_item> items;
  for (size_t i = 0; i < entries.size(); ++i) {
    uint64_t n = dtype_size(entries[i].dtype);
    for (int64_t d : entries[i].shape) n *= static_cast<uint64_t>(std::max<int64_t>(d, 0));
    items.push_back({&entries[i].name, entries[i].dtype, &entries[i].shape, n, i});
  }
  std::string header = build_header(items, metadata);
  temp_output out(path);
  write_header(out, header);
  std::vector<uint8_t> buf;
  for (const auto& it : items) {
    buf.resize(it.nbytes);
    entries[it.index].fill(buf.data(), buf.size());
    out.write(buf.data(), buf.size());
  }
  out.commit();
}

} // namespace sdw
