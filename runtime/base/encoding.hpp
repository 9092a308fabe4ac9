#pragma once
/// Byte encodings used at the API edge: base64 (images in requests and responses) and SHA-256
/// (checkpoint hashes, "Model hash" in the infotext).

#include <string>
#include <string_view>

namespace sdw {

/// Standard base64 with padding and no line breaks (what A1111 returns for images).
std::string base64_encode(std::string_view bytes);

/// Decodes standard base64. Accepts an optional `data:<type>;base64,` prefix, ASCII whitespace
/// anywhere, and missing `=` padding. Anything else that is not base64 →
/// sdw::error(bad_request, where, "invalid base64: ...").
std::string base64_decode(std::string_view text, const std::string& where = "image");

/// Lower-case hex SHA-256 of a byte string ("abc" → "ba7816bf…").
std::string sha256_hex(std::string_view bytes);

/// Lower-case hex SHA-256 of a file's contents, read in 1 MiB blocks.
/// A missing file → sdw::error(not_found, path, ...); a read failure → sdw::error(internal, path, ...).
std::string sha256_file_hex(const std::string& path);

} // namespace sdw
