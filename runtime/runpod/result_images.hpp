#pragma once
/// The images of a job-done body, for a result too large to post: read out of `output.images`
/// (the A1111 response's base64 strings), named as RunPod's upload helper names uploads, and put
/// back as the URLs they were uploaded to, so a client that reads `images` gets strings either way.

#include <string>
#include <vector>

namespace sdw {

/// The decoded bytes of each string in the body's `output.images`, in order; none when the body
/// has no output or no `images` array. An item that is not a base64 string →
/// sdw::error(bad_request, "output.images[i]", ...).
std::vector<std::string> result_image_bytes(const std::string& done_body);

/// The body with `output.images[i]` replaced by `urls[i]`, every other member as it was.
/// sdw::error(internal, "output.images", ...) when the counts differ.
std::string with_image_urls(const std::string& done_body, const std::vector<std::string>& urls);

/// An image file's type from its first bytes.
struct image_file_type {
  std::string extension;     ///< ".png", ".jpg", ".webp"; ".bin" when unknown
  std::string content_type;  ///< "image/png", ...; "application/octet-stream" when unknown
};
image_file_type image_type_of(const std::string& bytes);

/// The object key RunPod's upload helper gives an upload: "<job_id>/<8 hex digits of a random
/// UUID><extension>".
std::string result_object_key(const std::string& job_id, const std::string& extension);

} // namespace sdw
