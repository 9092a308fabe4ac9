#include "runtime/base/errors.hpp"

#include <cstdio>
#include <random>

namespace sdw {

std::string new_error_id() {
  thread_local std::mt19937_64 gen{(static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}()};
  char text[32];
  std::snprintf(text, sizeof text, "err-%012llx", static_cast<unsigned long long>(gen() & 0xffffffffffffULL));
  return text;
}

std::string public_error_text(std::string_view what, const std::string& id) {
  constexpr std::size_t max_bytes = 300;
  std::string_view line = what.substr(0, what.find('\n'));
  if (line.rfind("[enforce fail at ", 0) == 0) {
    const std::size_t close = line.find("] ");
    line.remove_prefix(close == std::string_view::npos ? line.size() : close + 2);
  }
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.remove_suffix(1);
  if (line.size() > max_bytes) {
    std::size_t cut = max_bytes;
    // Never split a UTF-8 sequence: back up over continuation bytes.
    while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;
    line = line.substr(0, cut);
  }
  return (line.empty() ? std::string("internal error") : std::string(line)) + " (error " + id + ")";
}

const char* to_string(errc code) noexcept {
  switch (code) {
    case errc::bad_request: return "bad_request";
    case errc::not_found: return "not_found";
    case errc::bad_checkpoint: return "bad_checkpoint";
    case errc::unsupported: return "unsupported";
    case errc::cancelled: return "cancelled";
    case errc::internal: return "internal";
    case errc::queue_full: return "queue_full";
    case errc::device_fault: return "device_fault";
    case errc::executor_lost: return "executor_lost";
  }
  return "internal";
}

} // namespace sdw
