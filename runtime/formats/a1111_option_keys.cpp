#include "runtime/formats/a1111_options_store.hpp"
#include "runtime/formats/options.hpp"

#include <algorithm>

namespace sdw {

// The keys are the defaults table's (a1111_option_defaults.cpp), one table for both.
const std::vector<std::string_view>& a1111_option_keys() {
  static const std::vector<std::string_view> keys = [] {
    std::vector<std::string_view> out;
    for (const auto& [key, value] : a1111_option_defaults()) {
      out.push_back(key);
    }
    return out;
  }();
  return keys;
}

bool is_a1111_option_key(std::string_view key) {
  const auto& keys = a1111_option_keys();
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

} // namespace sdw
