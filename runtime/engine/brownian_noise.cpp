#include "runtime/engine/brownian_noise.hpp"

#include "runtime/base/errors.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <limits>

namespace sdw {
namespace {

double time_of(const at::Tensor& t) { return static_cast<double>(t.item<float>()); }

} // namespace

brownian_noise_sampler::brownian_noise_sampler(const at::Tensor& sigma_min, const at::Tensor& sigma_max,
                                               const std::vector<std::int64_t>& entropies, bool per_image,
                                               const brownian_tree::draw_fn& draw)
  : per_image_(per_image) {
  if (entropies.empty() || (!per_image && entropies.size() != 1))
    throw error(errc::internal, "brownian_noise", "one seed per tree");
  double t0 = time_of(sigma_min), t1 = time_of(sigma_max);
  sign_ = t0 < t1 ? 1 : -1;
  if (sign_ < 0) std::swap(t0, t1);
  for (const std::int64_t e : entropies) {
    if (e < 0) throw error(errc::bad_request, "seed", "the SDE samplers' Brownian noise needs seeds of 0 or more");
    trees_.emplace_back(t0, t1, static_cast<std::uint64_t>(e), draw);
  }
}

at::Tensor brownian_noise_sampler::operator()(const at::Tensor& sigma, const at::Tensor& sigma_next) {
  double ta = time_of(sigma), tb = time_of(sigma_next);
  int sign = 1;
  if (!(ta < tb)) {
    std::swap(ta, tb);
    sign = -1;
  }
  std::vector<at::Tensor> ws;
  for (auto& tree : trees_) ws.push_back(tree(ta, tb));
  at::Tensor w = per_image_ ? at::stack(ws) : ws.front();
  if (sign_ * sign < 0) w = -w;
  const auto cpu = [](const at::Tensor& t) { return t.detach().to(at::kCPU, at::kFloat); };
  return w / (cpu(sigma_next) - cpu(sigma)).abs().sqrt();
}

std::int64_t kdiffusion_tree_seed(std::int64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<std::uint64_t>(seed));
  return at::randint(0, std::numeric_limits<std::int64_t>::max(), {}, gen, at::TensorOptions().dtype(at::kLong))
      .item<std::int64_t>();
}

brownian_noise_sampler a1111_noise_sampler(const at::Tensor& sigmas, const std::vector<std::int64_t>& seeds,
                                           const std::array<std::int64_t, 3>& shape_chw, rng_source source,
                                           at::Device device, bool no_batch_determinism) {
  if (seeds.empty()) throw error(errc::internal, "brownian_noise", "no seeds for the batch");
  const at::Tensor s = sigmas.detach().to(at::kCPU, at::kFloat);
  const at::Tensor sigma_min = s.masked_select(s > 0).min();
  const at::Tensor sigma_max = s.max();
  std::vector<std::int64_t> shape(shape_chw.begin(), shape_chw.end());
  if (no_batch_determinism) {
    shape.insert(shape.begin(), static_cast<std::int64_t>(seeds.size()));
    const auto draw = [source, shape, device](std::uint32_t seed) { return randn_local(source, seed, shape, device); };
    return brownian_noise_sampler(sigma_min, sigma_max, {kdiffusion_tree_seed(seeds.back())}, false, draw);
  }
  const auto draw = [source, shape, device](std::uint32_t seed) { return randn_local(source, seed, shape, device); };
  return brownian_noise_sampler(sigma_min, sigma_max, seeds, true, draw);
}

} // namespace sdw
