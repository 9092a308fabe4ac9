#include "runtime/checkpoint_hash.hpp"

#include "runtime/errors.hpp"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

namespace sdw {

namespace {

struct file_closer {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using file_ptr = std::unique_ptr<std::FILE, file_closer>;

struct digest_ctx {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  digest_ctx() { EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr); }
  ~digest_ctx() { EVP_MD_CTX_free(ctx); }
  void update(const void* p, size_t n) { EVP_DigestUpdate(ctx, p, n); }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx, md, &len);
    static const char* digits = "0123456789abcdef";
    std::string s;
    for (unsigned i = 0; i < len; ++i) {
      s += digits[md[i] >> 4];
      s += digits[md[i] & 15];
    }
    return s;
  }
};

file_ptr open_file(const std::string& path) {
  file_ptr f(std::fopen(path.c_str(), "rb"));
  if (!f) throw error(errc::not_found, path, std::string("cannot open model file: ") + std::strerror(errno));
  return f;
}

} // namespace

std::string file_sha256(const std::string& path) {
  file_ptr f = open_file(path);
  digest_ctx d;
  std::vector<char> buf(1 << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) d.update(buf.data(), n);
  if (std::ferror(f.get())) throw error(errc::internal, path, "read error while hashing");
  return d.hex();
}

std::string short_hash(const std::string& sha256_hex) { return sha256_hex.substr(0, 10); }

std::string legacy_model_hash(const std::string& path) {
  file_ptr f = open_file(path);
  digest_ctx d;
  std::vector<char> buf(0x10000);
  size_t n = 0;
  if (std::fseek(f.get(), 0x100000, SEEK_SET) == 0) n = std::fread(buf.data(), 1, buf.size(), f.get());
  d.update(buf.data(), n);
  return d.hex().substr(0, 8);
}

} // namespace sdw
