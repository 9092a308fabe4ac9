#pragma once
/// What the fuzz targets share: the input as text, and a check that stops the run (libFuzzer
/// then saves the input) whatever the build type, as assert() would not under NDEBUG.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace sdw::fuzz {

inline std::string text_of(const std::uint8_t* data, std::size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

[[noreturn]] inline void check_failed(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", file, line, condition);
  std::abort();
}

} // namespace sdw::fuzz

/// Aborts when `condition` is false.
#define SDW_FUZZ_CHECK(condition) \
  ((condition) ? static_cast<void>(0) : ::sdw::fuzz::check_failed(#condition, __FILE__, __LINE__))
