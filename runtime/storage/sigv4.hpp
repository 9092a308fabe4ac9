#pragma once
/// AWS Signature Version 4 (docs.aws.amazon.com, "Signature Version 4 signing process"): the
/// canonical request, the string to sign, the derived signing key and the signature, for a request
/// signed in its Authorization header and for a URL presigned in its query string. Time is a
/// parameter, so the published test vectors can be checked with plain calls.

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sdw {

/// An access key pair.
struct aws_credentials {
  std::string access_key_id;
  std::string secret_access_key;
};

/// Where a signature is valid: the region and the service ("s3").
struct sigv4_scope {
  std::string region;
  std::string service;
};

/// Name and value pairs (query parameters or headers), in the order given.
using sigv4_pairs = std::vector<std::pair<std::string, std::string>>;

/// What is signed of one request.
struct sigv4_request {
  std::string method;       ///< "GET", "PUT", ...
  std::string path;         ///< the canonical URI, already percent-encoded (S3: encoded once, not normalized)
  sigv4_pairs query;        ///< query parameters, not encoded
  sigv4_pairs headers;      ///< the headers signed; must hold Host
  std::string payload_hash; ///< lower-case hex SHA-256 of the body, or "UNSIGNED-PAYLOAD"
};

/// The SigV4 hashed payload of a request whose body is not signed (a presigned URL's).
constexpr const char* unsigned_payload = "UNSIGNED-PAYLOAD";

/// `t` as SigV4's timestamp, UTC: "20150830T123600Z".
std::string amz_timestamp(std::chrono::system_clock::time_point t);

/// SigV4's URI encoding: every byte but A-Z a-z 0-9 - . _ ~ as %XX (upper-case hex); '/' stays
/// when `keep_slash` (object keys in paths).
std::string sigv4_uri_encode(std::string_view text, bool keep_slash);

/// Raw HMAC-SHA256 of `data` under `key`.
std::string hmac_sha256(std::string_view key, std::string_view data);

/// The canonical query string: names and values encoded, sorted by name then value, joined by '&'.
std::string sigv4_canonical_query(const sigv4_pairs& query);

/// The signed-header list: the header names in lower case, sorted, joined by ';' ("host;x-amz-date").
std::string sigv4_signed_headers(const sigv4_pairs& headers);

/// The canonical request: method, path, canonical query, canonical headers (lower-case names,
/// values trimmed with inner runs of spaces collapsed, one line each, sorted; repeated names joined
/// by ','), signed-header list and payload hash, one per line.
std::string sigv4_canonical_request(const sigv4_request& request);

/// "<date>/<region>/<service>/aws4_request" for a timestamp ("20150830T123600Z").
std::string sigv4_credential_scope(const std::string& timestamp, const sigv4_scope& scope);

/// The string to sign: "AWS4-HMAC-SHA256", the timestamp, the credential scope and the hex
/// SHA-256 of the canonical request, one per line.
std::string sigv4_string_to_sign(const std::string& timestamp, const sigv4_scope& scope,
                                 const std::string& canonical_request);

/// The signing key: HMAC chained over "AWS4" + secret, the date, region, service and "aws4_request".
std::string sigv4_signing_key(const std::string& secret_access_key, const std::string& date,
                              const sigv4_scope& scope);

/// The hex signature of `request` at `timestamp`.
std::string sigv4_signature(const sigv4_request& request, const aws_credentials& credentials,
                            const sigv4_scope& scope, const std::string& timestamp);

/// The Authorization header value: "AWS4-HMAC-SHA256 Credential=<id>/<scope>,
/// SignedHeaders=<list>, Signature=<hex>". The request's headers must include X-Amz-Date with
/// `timestamp` (the caller sends them all as given).
std::string sigv4_authorization(const sigv4_request& request, const aws_credentials& credentials,
                                const sigv4_scope& scope, const std::string& timestamp);

/// A presigned URL's query string for `method` on `path` at `host` (the Host header the
/// client will send): X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders=host and
/// -Signature, encoded and in canonical order, the payload unsigned.
std::string sigv4_presigned_query(const std::string& method, const std::string& path, const std::string& host,
                                  const aws_credentials& credentials, const sigv4_scope& scope,
                                  const std::string& timestamp, std::chrono::seconds expires);

} // namespace sdw
