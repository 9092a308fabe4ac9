#pragma once
/// Seeds as A1111 assigns them: -1 means random, and per-image seeds over a whole job.

#include <cstdint>
#include <vector>

namespace sdw {

/// The largest seed a random draw can give (A1111 draws from `range(4294967294)`).
constexpr std::int64_t max_random_seed = 4294967293;

/// -1 → a uniformly random seed in [0, 4294967293]; any other value (other negatives included)
/// is returned unchanged.
std::int64_t fix_seed(std::int64_t seed);

/// The seed of each of `count` images of a job (index k = iteration·batch_size + position):
/// seed + k when `subseed_strength` is 0, else `seed` for every image.
std::vector<std::int64_t> image_seeds(std::int64_t seed, int count, double subseed_strength);

/// The variation seed of each of `count` images: subseed + k, always.
std::vector<std::int64_t> image_subseeds(std::int64_t subseed, int count);

} // namespace sdw
