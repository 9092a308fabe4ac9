#include "runtime/base/encoding.hpp"

#include "runtime/base/errors.hpp"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

namespace sdw {
namespace {

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string to_hex(const unsigned char* digest, unsigned len) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0xF];
  }
  return out;
}

struct md_ctx_deleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, md_ctx_deleter>;

md_ctx_ptr new_sha256(const std::string& where) {
  md_ctx_ptr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    throw error(errc::internal, where, "cannot initialise SHA-256");
  return ctx;
}

std::string finish(EVP_MD_CTX* ctx, const std::string& where) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  if (EVP_DigestFinal_ex(ctx, digest, &len) != 1) throw error(errc::internal, where, "SHA-256 failed");
  return to_hex(digest, len);
}

} // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  if (bytes.empty()) return out;
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string base64_decode(std::string_view text, const std::string& where) {
  if (text.substr(0, 5) == "data:") {
    const auto comma = text.find(',');
    if (comma == std::string_view::npos)
      throw error(errc::bad_request, where, "invalid data URL: no ',' after the media type");
    const auto header = text.substr(0, comma);
    if (header.size() < 7 || header.substr(header.size() - 7) != ";base64")
      throw error(errc::bad_request, where, "invalid data URL: only ';base64,' data is supported");
    text.remove_prefix(comma + 1);
  }
  std::string clean;
  clean.reserve(text.size() + 3);
  std::size_t padding = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (is_space(c)) continue;
    if (c == '=') {
      ++padding;
      clean += c;
      continue;
    }
    if (!is_base64_char(c)) {
      throw error(errc::bad_request, where,
                  "invalid base64: unexpected character at offset " + std::to_string(i));
    }
    if (padding > 0)
      throw error(errc::bad_request, where, "invalid base64: data after '=' padding at offset " + std::to_string(i));
    clean += c;
  }
  const std::size_t data_chars = clean.size() - padding;
  if (data_chars % 4 == 1 || padding > 2)
    throw error(errc::bad_request, where, "invalid base64: truncated input (" + std::to_string(data_chars) +
                                              " base64 characters)");
  const std::size_t needed = (4 - data_chars % 4) % 4;
  if (padding != 0 && padding != needed)
    throw error(errc::bad_request, where, "invalid base64: wrong amount of '=' padding");
  clean.append(needed - padding, '=');
  if (clean.empty()) return {};

  std::string out(clean.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(clean.data()), static_cast<int>(clean.size()));
  if (n < 0) throw error(errc::bad_request, where, "invalid base64");
  // EVP_DecodeBlock counts the bytes that padding stands for; drop them.
  out.resize(static_cast<std::size_t>(n) - needed);
  return out;
}

std::string sha256_hex(std::string_view bytes) {
  auto ctx = new_sha256("sha256");
  if (EVP_DigestUpdate(ctx.get(), bytes.data(), bytes.size()) != 1) throw error(errc::internal, "sha256", "SHA-256 failed");
  return finish(ctx.get(), "sha256");
}

std::string sha256_file_hex(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) {
    const int e = errno;
    throw error(e == ENOENT ? errc::not_found : errc::internal, path, std::string("cannot open: ") + std::strerror(e));
  }
  auto ctx = new_sha256(path);
  std::vector<char> block(1 << 20);
  while (true) {
    const std::size_t n = std::fread(block.data(), 1, block.size(), file.get());
    if (n > 0 && EVP_DigestUpdate(ctx.get(), block.data(), n) != 1) throw error(errc::internal, path, "SHA-256 failed");
    if (n < block.size()) {
      if (std::ferror(file.get())) throw error(errc::internal, path, "read error while hashing");
      break;
    }
  }
  return finish(ctx.get(), path);
}

} // namespace sdw
