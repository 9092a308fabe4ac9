#pragma once
/// numpy's SeedSequence (`numpy.random.SeedSequence`, its algorithm unchanged since numpy 1.19) for
/// integer entropy: torchsde derives the seed of every Brownian-tree node from one.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sdw {

/// A non-negative integer as numpy turns it into entropy words: 32-bit words, lowest first, no
/// high zero words (0 gives {0}).
std::vector<std::uint32_t> uint32_words(std::uint64_t n);

/// `SeedSequence(entropy, spawn_key=key, pool_size=pool_size).generate_state(n_words)` (uint32).
/// `entropy` is uint32_words() of the integer entropy; `spawn_key` the words of the key's entries
/// one after another (each entry as uint32_words() gives it). Throws internal for pool_size < 4.
std::vector<std::uint32_t> seed_sequence_state(const std::vector<std::uint32_t>& entropy,
                                               const std::vector<std::uint32_t>& spawn_key, std::size_t pool_size,
                                               std::size_t n_words);

} // namespace sdw
