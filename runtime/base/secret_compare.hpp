#pragma once
/// Comparing secrets (passwords, API keys) without telling an attacker anything by the time it takes.

#include <string_view>

namespace sdw {

/// Whether `a` equals `b`, in a time that depends on neither their contents nor which bytes differ:
/// both are hashed (SHA-256) and the digests compared in constant time, so not even a length leaks
/// through an early exit.
bool same_secret(std::string_view a, std::string_view b);

} // namespace sdw
