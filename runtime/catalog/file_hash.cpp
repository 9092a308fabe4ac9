#include "runtime/catalog/file_hash.hpp"

#include "runtime/base/encoding.hpp"
#include "runtime/base/errors.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

namespace fs = std::filesystem;

namespace sdw {

std::string file_sha256(const std::string& path) { return sha256_file_hex(path); }

namespace {

/// The file's size and modification time, the cache's check that the file is the one hashed.
struct file_stamp {
  unsigned long long size = 0;
  long long mtime = 0;
  bool ok = false;
};

file_stamp stamp_of(const std::string& path) {
  std::error_code ec;
  file_stamp s;
  s.size = fs::file_size(path, ec);
  if (ec) {
    return s;
  }
  s.mtime = fs::last_write_time(path, ec).time_since_epoch().count();
  s.ok = !ec;
  return s;
}

std::string remembered(const std::string& path, const file_stamp& stamp) {
  std::ifstream in(path + ".sha256");
  std::string hash;
  unsigned long long cached_size = 0;
  long long cached_mtime = 0;
  if (in >> hash >> cached_size >> cached_mtime && cached_size == stamp.size && cached_mtime == stamp.mtime &&
      hash.size() == 64) {
    return hash;
  }
  return "";
}

} // namespace

std::string known_file_sha256(const std::string& path) {
  const file_stamp stamp = stamp_of(path);
  return stamp.ok ? remembered(path, stamp) : "";
}

std::string cached_file_sha256(const std::string& path) {
  const file_stamp stamp = stamp_of(path);
  if (!stamp.ok) {
    return file_sha256(path);  // names the file in its error
  }
  const std::string sidecar = path + ".sha256";
  if (std::string hash = remembered(path, stamp); !hash.empty()) {
    return hash;
  }
  const auto size = stamp.size;
  const auto mtime = stamp.mtime;
  std::string hash = file_sha256(path);
  std::ofstream out(sidecar, std::ios::trunc);  // a read-only model folder just means no cache
  if (out) {
    out << hash << ' ' << size << ' ' << mtime << '\n';
  }
  return hash;
}

std::string short_hash(const std::string& sha256_hex) { return sha256_hex.substr(0, 10); }

std::string legacy_model_hash(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) {
    throw error(errc::not_found, path, std::string("cannot open model file: ") + std::strerror(errno));
  }
  std::string block(0x10000, '\0');
  size_t n = 0;
  if (std::fseek(f.get(), 0x100000, SEEK_SET) == 0) {
    n = std::fread(block.data(), 1, block.size(), f.get());
  }
  block.resize(n);
  return sha256_hex(block).substr(0, 8);
}

} // namespace sdw
