#pragma once
/// A1111's natural_sort_key order for file names (model listings, VAE and upscaler files).

#include <string>

namespace sdw {

/// Runs of digits compare as numbers, the rest without case; at one place a number comes before
/// text, as A1111's split keys compare (they alternate text and numbers from a text start).
bool natural_less(const std::string& a, const std::string& b);

} // namespace sdw
