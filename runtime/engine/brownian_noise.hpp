#pragma once
/// The noise of A1111's SDE samplers (DPM++ SDE, 2M SDE, 2M SDE Heun, 3M SDE): k-diffusion's
/// BrownianTreeNoiseSampler over torchsde Brownian trees, built as A1111 1.9.4 builds it.

#include "runtime/engine/brownian_tree.hpp"
#include "runtime/engine/rng.hpp"

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <vector>

namespace sdw {

/// k-diffusion's BrownianTreeNoiseSampler with its identity transform (as A1111 uses it) over a
/// BatchedBrownianTree: the noise of a step from σ to σ_next is ±(W(max) − W(min)) / √|σ_next − σ|
/// of Brownian trees on [σ_min, σ_max], signed by the direction of the step.
class brownian_noise_sampler {
public:
  /// `sigma_min`, `sigma_max`: 0-d float32 tensors. `per_image`: one tree per entropy, each drawing
  /// one image's noise with `draw`, stacked into the batch; otherwise one tree (one entropy) whose
  /// draws are the whole batch. Throws bad_request("seed") for a negative entropy, which numpy's
  /// SeedSequence refuses.
  brownian_noise_sampler(const at::Tensor& sigma_min, const at::Tensor& sigma_max,
                         const std::vector<std::int64_t>& entropies, bool per_image,
                         const brownian_tree::draw_fn& draw);

  /// k-diffusion's `noise_sampler(sigma, sigma_next)` for 0-d float32 tensors.
  at::Tensor operator()(const at::Tensor& sigma, const at::Tensor& sigma_next);

private:
  std::vector<brownian_tree> trees_;
  bool per_image_;
  int sign_;  ///< −1 when σ_min is not below σ_max, as BatchedBrownianTree sorts its ends
};

/// A1111's create_noise_sampler over the schedule `sigmas` (σ range: the smallest positive sigma and
/// the largest) for one n_iter batch with these `seeds`: one tree per image seeded with its seed,
/// drawing with randn_local(source, ·, shape_chw, device). With `no_batch_determinism` (option
/// `no_dpmpp_sde_batch_determinism`) A1111 passes no sampler and k-diffusion makes its own: one tree
/// over the whole batch, seeded with torch.randint(0, 2^63 − 1, []) from the global CPU generator,
/// which ImageRNG.first() last seeded with the batch's last seed (for the CPU and GPU sources; with
/// NV A1111 leaves it as earlier work left it, and this takes the same seed).
brownian_noise_sampler a1111_noise_sampler(const at::Tensor& sigmas, const std::vector<std::int64_t>& seeds,
                                           const std::array<std::int64_t, 3>& shape_chw, rng_source source,
                                           at::Device device, bool no_batch_determinism);

/// The seed k-diffusion gives its own Brownian tree after torch.manual_seed(seed):
/// torch.randint(0, 2^63 − 1, []) from the reseeded CPU generator.
std::int64_t kdiffusion_tree_seed(std::int64_t seed);

} // namespace sdw
