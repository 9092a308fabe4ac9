#pragma once
/// An S3-compatible bucket that results too large for the platform are uploaded to, as RunPod's
/// upload helper (runpod.serverless.utils.rp_upload) uses one: the endpoint and keys from
/// BUCKET_ENDPOINT_URL, BUCKET_ACCESS_KEY_ID and BUCKET_SECRET_ACCESS_KEY, the region read from
/// the endpoint, objects PUT with Signature V4 and handed out as presigned GET URLs (7 days).
/// Path-style addressing (`<endpoint>/<bucket>/<key>`), as boto3 addresses a custom endpoint.
/// Requests are built here; sending them is the caller's (actors/, without blocking).

#include "runtime/storage/sigv4.hpp"

#include <chrono>
#include <string>
#include <string_view>

namespace sdw {

/// Where uploads go.
struct s3_storage {
  std::string endpoint_url;       ///< BUCKET_ENDPOINT_URL: scheme, host, optional port and path
  std::string access_key_id;      ///< BUCKET_ACCESS_KEY_ID
  std::string secret_access_key;  ///< BUCKET_SECRET_ACCESS_KEY; never logged
  std::string bucket;             ///< empty = s3_default_bucket at upload time, as RunPod's helper names it
  std::string region;             ///< empty = s3_region_for_endpoint

  /// Whether uploads can be made: endpoint and both keys are set (RunPod's helper asks the same).
  bool configured() const { return !endpoint_url.empty() && !access_key_id.empty() && !secret_access_key.empty(); }
};

/// An endpoint URL in parts.
struct s3_endpoint {
  std::string scheme;     ///< "http" or "https"
  std::string authority;  ///< host in lower case, with ":port" when the URL names one (the Host header sent)
  std::string base_path;  ///< the URL's path without a trailing '/' ("" for none)
};

/// Splits an endpoint URL; sdw::error(bad_request, `where`, ...) unless it is http(s)://host[:port][/path]
/// (no user info, query or fragment).
s3_endpoint parse_s3_endpoint(const std::string& url, const std::string& where = "runpod.bucket-endpoint-url");

/// The region an endpoint URL names: the label after "s3." (`s3.us-west-2.amazonaws.com`,
/// `bucket.s3.eu-west-1.amazonaws.com`, `s3.us-west-002.backblazeb2.com`), the label before
/// ".digitaloceanspaces.com"; else "us-east-1", boto3's default.
std::string s3_region_for_endpoint(const std::string& url);

/// The configured region, else the endpoint's.
std::string s3_region(const s3_storage& storage);

/// RunPod's default bucket name: the month of `now` as time.strftime("%m-%y") gives it (local time), "05-26".
std::string s3_default_bucket(std::chrono::system_clock::time_point now);

/// Why `name` cannot be a bucket name (S3's rules: 3-63 characters, lower-case letters, digits,
/// '.', '-', starting and ending with a letter or digit); empty when it can.
std::string bucket_name_problem(std::string_view name);

/// One object: a bucket and a key.
struct s3_object {
  std::string bucket;
  std::string key;
};

/// An HTTP request ready to send as it is.
struct s3_request {
  std::string method;
  std::string url;
  sigv4_pairs headers;  ///< every header to send (Host is the client's own, equal to the endpoint's authority)
  std::string body;
};

/// A PUT of `bytes` as `object` with Content-Type `content_type`, signed (Authorization header,
/// payload hash in x-amz-content-sha256) at `now`.
s3_request s3_put_object(const s3_storage& storage, const s3_object& object, std::string bytes,
                         const std::string& content_type, std::chrono::system_clock::time_point now);

/// How long presigned URLs are valid: 7 days, the most SigV4 allows (RunPod's helper's ExpiresIn=604800).
constexpr std::chrono::seconds presigned_url_lifetime{7 * 24 * 3600};

/// A GET URL for `object`, presigned at `now` for `expires`.
std::string s3_presigned_get(const s3_storage& storage, const s3_object& object,
                             std::chrono::system_clock::time_point now,
                             std::chrono::seconds expires = presigned_url_lifetime);

/// What an S3 error answer says: "HTTP 403 SignatureDoesNotMatch: The request signature ..." from
/// its XML `<Code>` and `<Message>` (the status alone when the body has neither).
std::string s3_error_text(int status, std::string_view body);

/// The storage as messages name it: "bucket '05-26' at http://host:port" (never a key).
std::string s3_storage_name(const s3_storage& storage, const std::string& bucket);

} // namespace sdw
