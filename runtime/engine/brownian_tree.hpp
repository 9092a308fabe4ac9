#pragma once
/// torchsde 0.2.x's BrownianTree, the Brownian motion behind A1111's SDE samplers, with the same
/// values for the same entropy, interval, queries and draws.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>

namespace sdw {

/// Python's round(x, ndigits) for a double: the decimal with `ndigits` places nearest to x's exact
/// binary value (ties to even), read back as the nearest double.
double round_decimal(double x, int ndigits);

/// torchsde's `BrownianTree(t0, w0, t1, entropy=...)` (no Lévy area): a Brownian motion on [t0, t1]
/// whose increments depend only on the entropy, the draws and the query times, not on the order of
/// the queries. It is torchsde's BrownianInterval with halfway_tree=True, tol=1e-6, pool_size=24:
/// interval ends and query times are rounded to 6 decimals; a node splits at its rounded halfway
/// point, on toward a query time until that time is a node boundary; a node's seed is
/// numpy's SeedSequence(entropy, spawn_key=(key, depth), pool_size=24).generate_state(4)[0] with
/// key 0 at the root and 2·key + (0 left, 1 right) below; the root's increment is
/// draw(seed0)·√(t1 − t0), seed0 = SeedSequence(entropy, pool_size=24).generate_state(3)[0]; a
/// child's increment is the Brownian-bridge sample from its parent's increment and one draw made
/// with the parent's seed. A bounded cache of node increments saves recomputation; no value
/// depends on it.
class brownian_tree {
public:
  /// One standard normal tensor for a node seed, in the tree's shape, dtype and device (torchsde's
  /// `_randn`; A1111 replaces it with its randn_local, see brownian_noise.hpp).
  using draw_fn = std::function<at::Tensor(std::uint32_t seed)>;

  /// Throws internal when t1 < t0.
  brownian_tree(double t0, double t1, std::uint64_t entropy, draw_fn draw);
  ~brownian_tree();
  brownian_tree(brownian_tree&&) noexcept;
  brownian_tree& operator=(brownian_tree&&) noexcept;

  /// W(tb) − W(ta), torchsde's `tree(ta, tb)`: times outside [t0, t1] (as rounded) are clamped to
  /// it, equal times give zeros. Throws bad_request("steps") for ta > tb and for times that only
  /// part below the tree's 1e-6 resolution (torchsde recurses without end there).
  at::Tensor operator()(double ta, double tb);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace sdw
