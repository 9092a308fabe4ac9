// JSON bodies with many keys: parse time at n and 4n keys, and their ratio (about 4 when the
// object is built in linear time; a quadratic build gives about 16). Prints one line per size.

#include "runtime/base/json_value.hpp"

#include <chrono>
#include <cstdio>
#include <string>

namespace {

std::string object_with_keys(std::size_t n) {
  std::string s = "{";
  for (std::size_t i = 0; i < n; ++i) s += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":" + std::to_string(i);
  return s + "}";
}

// Best of three, in seconds.
double parse_seconds(const std::string& text, std::size_t keys) {
  double best = 1e9;
  for (int i = 0; i < 3; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const sdw::json_value v = sdw::parse_json(text, "body", sdw::json_limits{64, 2 * keys});
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (v.as_object().size() != keys) {
      std::fprintf(stderr, "parsed %zu keys of %zu\n", v.as_object().size(), keys);
      return -1;
    }
    best = s < best ? s : best;
  }
  return best;
}

} // namespace

int main() {
  double previous = 0;
  for (std::size_t keys : {25000, 100000, 400000}) {
    const std::string text = object_with_keys(keys);
    const double s = parse_seconds(text, keys);
    if (s < 0) return 1;
    std::printf("%7zu keys, %5.1f MB: %.3f s", keys, static_cast<double>(text.size()) / 1e6, s);
    if (previous > 0) std::printf("  (x%.1f for 4x the keys)", s / previous);
    std::printf("\n");
    previous = s;
  }
  return 0;
}
