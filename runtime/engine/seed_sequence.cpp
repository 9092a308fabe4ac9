#include "runtime/engine/seed_sequence.hpp"

#include "runtime/base/errors.hpp"

namespace sdw {
namespace {

// The hash constants of O'Neill's seed_seq alternative, as numpy uses them.
constexpr std::uint32_t init_a = 0x43b0d7e5u, mult_a = 0x931e8875u;
constexpr std::uint32_t init_b = 0x8b51f9ddu, mult_b = 0x58f38dedu;
constexpr std::uint32_t mix_mult_l = 0xca01f9ddu, mix_mult_r = 0x4973f715u;
constexpr int xshift = 16;

/// Hashes one word; the multiplier advances with every call.
std::uint32_t hashmix(std::uint32_t value, std::uint32_t& hash_const) {
  value ^= hash_const;
  hash_const *= mult_a;
  value *= hash_const;
  return value ^ (value >> xshift);
}

std::uint32_t mix(std::uint32_t x, std::uint32_t y) {
  const std::uint32_t r = mix_mult_l * x - mix_mult_r * y;
  return r ^ (r >> xshift);
}

} // namespace

std::vector<std::uint32_t> uint32_words(std::uint64_t n) {
  std::vector<std::uint32_t> words;
  do {
    words.push_back(static_cast<std::uint32_t>(n));
    n >>= 32;
  } while (n != 0);
  return words;
}

std::vector<std::uint32_t> seed_sequence_state(const std::vector<std::uint32_t>& entropy,
                                               const std::vector<std::uint32_t>& spawn_key, std::size_t pool_size,
                                               std::size_t n_words) {
  if (pool_size < 4) throw error(errc::internal, "seed_sequence", "the entropy pool needs at least 4 words");
  // With a spawn key, short entropy is padded to the pool size so keys cannot collide with entropy.
  std::vector<std::uint32_t> words = entropy;
  if (!spawn_key.empty() && words.size() < pool_size) words.resize(pool_size, 0);
  words.insert(words.end(), spawn_key.begin(), spawn_key.end());

  std::vector<std::uint32_t> pool(pool_size);
  std::uint32_t hash_const = init_a;
  for (std::size_t i = 0; i < pool_size; ++i) pool[i] = hashmix(i < words.size() ? words[i] : 0, hash_const);
  for (std::size_t src = 0; src < pool_size; ++src)
    for (std::size_t dst = 0; dst < pool_size; ++dst)
      if (src != dst) pool[dst] = mix(pool[dst], hashmix(pool[src], hash_const));
  for (std::size_t src = pool_size; src < words.size(); ++src)
    for (std::size_t dst = 0; dst < pool_size; ++dst) pool[dst] = mix(pool[dst], hashmix(words[src], hash_const));

  std::vector<std::uint32_t> state(n_words);
  std::uint32_t out_const = init_b;
  for (std::size_t i = 0; i < n_words; ++i) {
    std::uint32_t v = pool[i % pool_size] ^ out_const;
    out_const *= mult_b;
    v *= out_const;
    state[i] = v ^ (v >> xshift);
  }
  return state;
}

} // namespace sdw
