#pragma once
/// Checks on a request's headers that guard a local server against web pages: cross-site forms
/// (which can only send form encodings or text/plain) and DNS rebinding (a page on an attacker's
/// name that resolves to 127.0.0.1 sends that name as Host).

#include <optional>
#include <string>

namespace sdw {

/// Whether a Content-Type names JSON: application/json or application/<anything>+json, with any
/// parameters and in any case. An absent or empty one counts as JSON, as FastAPI takes it.
bool is_json_media_type(const std::optional<std::string>& content_type);

/// Whether a server bound to `host` is reachable from this machine only: "localhost" or a
/// loopback address (127.0.0.0/8, ::1, with or without brackets).
bool is_loopback_host(const std::string& host);

/// Whether a Host header names this machine by a loopback name: localhost, a 127.x.y.z address or
/// [::1], each with or without a port. A missing header passes: browsers always send one.
bool is_loopback_host_header(const std::optional<std::string>& host_header);

} // namespace sdw
