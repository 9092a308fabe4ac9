#pragma once
/// Writes float32 arrays as NumPy .npy files (format 1.0), for latent dumps.

#include <cstdint>
#include <string>
#include <vector>

namespace sdw {

/// Writes `data` with `shape` (C order, little-endian float32) to `path`; errors name the path.
void write_npy_f32(const std::string& path, const std::vector<float>& data, const std::vector<int64_t>& shape);

} // namespace sdw
