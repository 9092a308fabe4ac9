#include "runtime/engine/seeds.hpp"

#include <mutex>
#include <random>

namespace sdw {

std::int64_t fix_seed(std::int64_t seed) {
  if (seed != -1) return seed;
  // One engine seeded from the OS, shared and locked: cheap, and never two equal streams.
  static std::mutex mutex;
  static std::mt19937_64 engine{std::random_device{}()};
  std::uniform_int_distribution<std::int64_t> dist(0, max_random_seed);
  std::lock_guard<std::mutex> lock(mutex);
  return dist(engine);
}

std::vector<std::int64_t> image_seeds(std::int64_t seed, int count, double subseed_strength) {
  std::vector<std::int64_t> seeds;
  if (count <= 0) return seeds;
  seeds.reserve(static_cast<std::size_t>(count));
  for (int k = 0; k < count; ++k) seeds.push_back(subseed_strength == 0 ? seed + k : seed);
  return seeds;
}

std::vector<std::int64_t> image_subseeds(std::int64_t subseed, int count) {
  std::vector<std::int64_t> subseeds;
  if (count <= 0) return subseeds;
  subseeds.reserve(static_cast<std::size_t>(count));
  for (int k = 0; k < count; ++k) subseeds.push_back(subseed + k);
  return subseeds;
}

} // namespace sdw
