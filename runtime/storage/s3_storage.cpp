#include "runtime/storage/s3_storage.hpp"

#include "runtime/base/encoding.hpp"
#include "runtime/base/errors.hpp"

#include <algorithm>
#include <ctime>

namespace sdw {
namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); });
  return text;
}

/// The host of an authority ("host:port" → "host").
std::string host_of(const std::string& authority) {
  if (!authority.empty() && authority.front() == '[') {
    return authority.substr(0, authority.find(']') + 1);
  }
  return authority.substr(0, authority.find(':'));
}

/// The text between `<tag>` and `</tag>` in `xml`; empty when absent.
std::string element(std::string_view xml, const std::string& tag) {
  const std::string open = "<" + tag + ">";
  const size_t start = xml.find(open);
  if (start == std::string_view::npos) {
    return "";
  }
  const size_t end = xml.find("</" + tag + ">", start);
  return end == std::string_view::npos ? "" : std::string(xml.substr(start + open.size(), end - start - open.size()));
}

sigv4_scope scope_of(const s3_storage& storage) { return {s3_region(storage), "s3"}; }

std::string object_path(const s3_endpoint& endpoint, const s3_object& object) {
  return endpoint.base_path + "/" + sigv4_uri_encode(object.bucket, false) + "/" + sigv4_uri_encode(object.key, true);
}

} // namespace

s3_endpoint parse_s3_endpoint(const std::string& url, const std::string& where) {
  const size_t colon = url.find("://");
  const std::string scheme = colon == std::string::npos ? "" : lower(url.substr(0, colon));
  if (scheme != "http" && scheme != "https") {
    throw error(errc::bad_request, where, "must be an http:// or https:// URL, got '" + url + "'");
  }
  const size_t host_start = colon + 3;
  const size_t path_start = std::min(url.find('/', host_start), url.size());
  s3_endpoint out;
  out.scheme = scheme;
  out.authority = lower(url.substr(host_start, path_start - host_start));
  out.base_path = url.substr(path_start);
  while (!out.base_path.empty() && out.base_path.back() == '/') {
    out.base_path.pop_back();
  }
  if (url.find_first_of("?#") != std::string::npos || out.authority.find('@') != std::string::npos) {
    throw error(errc::bad_request, where, "must be a plain endpoint URL (no user, query or fragment), got '" + url + "'");
  }
  const std::string host = host_of(out.authority);
  const std::string port = out.authority.size() > host.size() ? out.authority.substr(host.size()) : "";
  const bool port_ok = port.empty() || (port.size() >= 2 && port.size() <= 6 && port[0] == ':' &&
                                        port.find_first_not_of("0123456789", 1) == std::string::npos);
  if (host.empty() || !port_ok) {
    throw error(errc::bad_request, where, "must name a host (and optionally :port), got '" + url + "'");
  }
  return out;
}

std::string s3_region_for_endpoint(const std::string& url) {
  std::string host;
  try {
    host = host_of(parse_s3_endpoint(url).authority);
  } catch (const error&) {
    return "us-east-1";
  }
  // "s3.<region>." at the start or after a bucket label; s3.amazonaws.com itself is us-east-1.
  const size_t s3 = host.rfind("s3.", 0) == 0 ? 0 : host.find(".s3.");
  if (s3 != std::string::npos) {
    const size_t start = host.find('.', s3 == 0 ? 0 : s3 + 1) + 1;
    const size_t end = host.find('.', start);
    const std::string label = host.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (end != std::string::npos && !label.empty() && label != "amazonaws") {
      return label;
    }
  }
  const std::string spaces = ".digitaloceanspaces.com";
  if (host.size() > spaces.size() && host.compare(host.size() - spaces.size(), spaces.size(), spaces) == 0) {
    const std::string rest = host.substr(0, host.size() - spaces.size());
    return rest.substr(rest.rfind('.') == std::string::npos ? 0 : rest.rfind('.') + 1);
  }
  return "us-east-1";
}

std::string s3_region(const s3_storage& storage) {
  return storage.region.empty() ? s3_region_for_endpoint(storage.endpoint_url) : storage.region;
}

std::string s3_default_bucket(std::chrono::system_clock::time_point now) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  std::tm local{};
  localtime_r(&seconds, &local);
  char text[8];
  std::strftime(text, sizeof text, "%m-%y", &local);
  return text;
}

std::string bucket_name_problem(std::string_view name) {
  if (name.size() < 3 || name.size() > 63) {
    return "must be 3 to 63 characters long";
  }
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  for (const char c : name) {
    if (!alnum(c) && c != '.' && c != '-') {
      return "may hold only lower-case letters, digits, '.' and '-'";
    }
  }
  if (!alnum(name.front()) || !alnum(name.back())) {
    return "must start and end with a letter or digit";
  }
  return "";
}

s3_request s3_put_object(const s3_storage& storage, const s3_object& object, std::string bytes,
                         const std::string& content_type, std::chrono::system_clock::time_point now) {
  const s3_endpoint endpoint = parse_s3_endpoint(storage.endpoint_url);
  const std::string timestamp = amz_timestamp(now);
  const std::string payload_hash = sha256_hex(bytes);
  sigv4_request signed_part;
  signed_part.method = "PUT";
  signed_part.path = object_path(endpoint, object);
  signed_part.headers = {{"Host", endpoint.authority},
                         {"Content-Type", content_type},
                         {"x-amz-content-sha256", payload_hash},
                         {"x-amz-date", timestamp}};
  signed_part.payload_hash = payload_hash;
  s3_request out;
  out.method = "PUT";
  out.url = endpoint.scheme + "://" + endpoint.authority + signed_part.path;
  out.headers = {{"Content-Type", content_type},
                 {"x-amz-content-sha256", payload_hash},
                 {"x-amz-date", timestamp},
                 {"Authorization", sigv4_authorization(signed_part, {storage.access_key_id, storage.secret_access_key},
                                                       scope_of(storage), timestamp)}};
  out.body = std::move(bytes);
  return out;
}

std::string s3_presigned_get(const s3_storage& storage, const s3_object& object,
                             std::chrono::system_clock::time_point now, std::chrono::seconds expires) {
  const s3_endpoint endpoint = parse_s3_endpoint(storage.endpoint_url);
  const std::string path = object_path(endpoint, object);
  return endpoint.scheme + "://" + endpoint.authority + path + "?" +
         sigv4_presigned_query("GET", path, endpoint.authority, {storage.access_key_id, storage.secret_access_key},
                               scope_of(storage), amz_timestamp(now), expires);
}

std::string s3_error_text(int status, std::string_view body) {
  std::string out = "HTTP " + std::to_string(status);
  const std::string code = element(body, "Code");
  const std::string message = element(body, "Message");
  if (!code.empty()) {
    out += " " + code;
  }
  if (!message.empty()) {
    out += ": " + message.substr(0, 300);
  }
  return out;
}

std::string s3_storage_name(const s3_storage& storage, const std::string& bucket) {
  return "bucket '" + bucket + "' at " + storage.endpoint_url;
}

} // namespace sdw
