#include "runtime/storage/sigv4.hpp"

#include "runtime/base/encoding.hpp"
#include "runtime/base/errors.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <ctime>

namespace sdw {
namespace {

std::string to_hex(std::string_view bytes) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out += hex[b >> 4];
    out += hex[b & 0xF];
  }
  return out;
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); });
  return text;
}

/// A header value as the canonical form wants it: outer whitespace trimmed, inner runs of spaces
/// made one space.
std::string canonical_value(std::string_view value) {
  std::string out;
  bool space = false;
  for (const char c : value) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) {
      out += ' ';
      space = false;
    }
    out += c;
  }
  return out;
}

/// The headers with lower-case names, sorted by name (stable, so repeated names keep their order).
sigv4_pairs sorted_headers(const sigv4_pairs& headers) {
  sigv4_pairs out;
  for (const auto& [name, value] : headers) {
    out.emplace_back(lower(name), canonical_value(value));
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

} // namespace

std::string amz_timestamp(std::chrono::system_clock::time_point t) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[20];
  std::strftime(text, sizeof text, "%Y%m%dT%H%M%SZ", &utc);
  return text;
}

std::string sigv4_uri_encode(std::string_view text, bool keep_slash) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto b = static_cast<unsigned char>(c);
    const bool unreserved = (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') || b == '-' ||
                            b == '.' || b == '_' || b == '~';
    if (unreserved || (keep_slash && b == '/')) {
      out += c;
    } else {
      out += '%';
      out += hex[b >> 4];
      out += hex[b & 0xF];
    }
  }
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
           data.size(), digest, &len) == nullptr) {
    throw error(errc::internal, "sigv4", "HMAC-SHA256 failed");
  }
  return std::string(reinterpret_cast<const char*>(digest), len);
}

std::string sigv4_canonical_query(const sigv4_pairs& query) {
  sigv4_pairs encoded;
  for (const auto& [name, value] : query) {
    encoded.emplace_back(sigv4_uri_encode(name, false), sigv4_uri_encode(value, false));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    out += (out.empty() ? "" : "&") + name + "=" + value;
  }
  return out;
}

std::string sigv4_signed_headers(const sigv4_pairs& headers) {
  std::string out;
  std::string last;
  for (const auto& [name, value] : sorted_headers(headers)) {
    if (name != last) {
      out += (out.empty() ? "" : ";") + name;
      last = name;
    }
  }
  return out;
}

std::string sigv4_canonical_request(const sigv4_request& request) {
  std::string headers;
  std::string last;
  for (const auto& [name, value] : sorted_headers(request.headers)) {
    if (name == last) {
      headers.back() = ',';  // a repeated header: its values on one line, comma-separated
      headers += value + "\n";
    } else {
      headers += name + ":" + value + "\n";
      last = name;
    }
  }
  return request.method + "\n" + request.path + "\n" + sigv4_canonical_query(request.query) + "\n" + headers + "\n" +
         sigv4_signed_headers(request.headers) + "\n" + request.payload_hash;
}

std::string sigv4_credential_scope(const std::string& timestamp, const sigv4_scope& scope) {
  return timestamp.substr(0, 8) + "/" + scope.region + "/" + scope.service + "/aws4_request";
}

std::string sigv4_string_to_sign(const std::string& timestamp, const sigv4_scope& scope,
                                 const std::string& canonical_request) {
  return "AWS4-HMAC-SHA256\n" + timestamp + "\n" + sigv4_credential_scope(timestamp, scope) + "\n" +
         sha256_hex(canonical_request);
}

std::string sigv4_signing_key(const std::string& secret_access_key, const std::string& date,
                              const sigv4_scope& scope) {
  const std::string date_key = hmac_sha256("AWS4" + secret_access_key, date);
  const std::string region_key = hmac_sha256(date_key, scope.region);
  const std::string service_key = hmac_sha256(region_key, scope.service);
  return hmac_sha256(service_key, "aws4_request");
}

std::string sigv4_signature(const sigv4_request& request, const aws_credentials& credentials,
                            const sigv4_scope& scope, const std::string& timestamp) {
  const std::string key = sigv4_signing_key(credentials.secret_access_key, timestamp.substr(0, 8), scope);
  return to_hex(hmac_sha256(key, sigv4_string_to_sign(timestamp, scope, sigv4_canonical_request(request))));
}

std::string sigv4_authorization(const sigv4_request& request, const aws_credentials& credentials,
                                const sigv4_scope& scope, const std::string& timestamp) {
  return "AWS4-HMAC-SHA256 Credential=" + credentials.access_key_id + "/" + sigv4_credential_scope(timestamp, scope) +
         ", SignedHeaders=" + sigv4_signed_headers(request.headers) +
         ", Signature=" + sigv4_signature(request, credentials, scope, timestamp);
}

std::string sigv4_presigned_query(const std::string& method, const std::string& path, const std::string& host,
                                  const aws_credentials& credentials, const sigv4_scope& scope,
                                  const std::string& timestamp, std::chrono::seconds expires) {
  sigv4_request request;
  request.method = method;
  request.path = path;
  request.query = {{"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
                   {"X-Amz-Credential", credentials.access_key_id + "/" + sigv4_credential_scope(timestamp, scope)},
                   {"X-Amz-Date", timestamp},
                   {"X-Amz-Expires", std::to_string(expires.count())},
                   {"X-Amz-SignedHeaders", "host"}};
  request.headers = {{"host", host}};
  request.payload_hash = unsigned_payload;
  const std::string signature = sigv4_signature(request, credentials, scope, timestamp);
  return sigv4_canonical_query(request.query) + "&X-Amz-Signature=" + signature;
}

} // namespace sdw
