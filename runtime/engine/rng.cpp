#include "runtime/engine/rng.hpp"

#include "runtime/base/errors.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <mutex>

namespace sdw {

rng_source parse_rng_source(const std::string& name) {
  if (name == "GPU") return rng_source::gpu;
  if (name == "CPU") return rng_source::cpu;
  if (name == "NV") return rng_source::nv;
  throw error(errc::bad_request, "randn_source", "expected \"GPU\", \"CPU\" or \"NV\", got \"" + name + "\"");
}

const char* rng_source_name(rng_source source) {
  switch (source) {
  case rng_source::gpu: return "GPU";
  case rng_source::cpu: return "CPU";
  case rng_source::nv: return "NV";
  }
  return "GPU";
}

namespace {

constexpr uint32_t philox_m0 = 0xD2511F53u, philox_m1 = 0xCD9E8D57u;
constexpr uint32_t philox_w0 = 0x9E3779B9u, philox_w1 = 0xBB67AE85u;

float philox_normal(uint64_t seed, uint32_t offset, uint32_t index) {
  uint32_t c0 = offset, c1 = 0, c2 = index, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += philox_w0;
      k1 += philox_w1;
    }
    const uint64_t p0 = static_cast<uint64_t>(c0) * philox_m0;
    const uint64_t p2 = static_cast<uint64_t>(c2) * philox_m1;
    const uint32_t n0 = static_cast<uint32_t>(p2 >> 32) ^ c1 ^ k0;
    const uint32_t n1 = static_cast<uint32_t>(p2);
    const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    const uint32_t n3 = static_cast<uint32_t>(p0);
    c0 = n0, c1 = n1, c2 = n2, c3 = n3;
  }
  // The reference promotes uint32 × float32 to float64, with constants rounded to float32 first.
  const double two_pow32_inv = static_cast<double>(2.3283064e-10f);
  const double two_pow32_inv_2pi = static_cast<double>(static_cast<float>(2.3283064e-10 * 6.2831855));
  const double u = c0 * two_pow32_inv + static_cast<double>(static_cast<float>(two_pow32_inv) / 2.0f);
  const double v = c1 * two_pow32_inv_2pi + static_cast<double>(static_cast<float>(two_pow32_inv_2pi) / 2.0f);
  const double s = std::sqrt(-2.0 * std::log(u));
  return static_cast<float>(s * std::sin(v));
}

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

} // namespace

at::Tensor randn_nv(uint64_t seed, uint64_t offset, at::IntArrayRef shape) {
  int64_t n = 1;
  for (auto d : shape) {
    if (d < 0) throw error(errc::bad_request, "shape", "negative dimension");
    n *= d;
  }
  auto out = at::empty(shape, at::TensorOptions().dtype(at::kFloat));
  float* p = out.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i)
    p[i] = philox_normal(seed, static_cast<uint32_t>(offset), static_cast<uint32_t>(i));
  return out;
}

at::Tensor slerp_noise(double val, const at::Tensor& low, const at::Tensor& high) {
  auto low_norm = low / at::norm(low, 2, {1}, true);
  auto high_norm = high / at::norm(high, 2, {1}, true);
  auto dot = (low_norm * high_norm).sum(1);
  if (dot.mean().item<double>() > 0.9995) return low * val + high * (1 - val);
  auto omega = at::acos(dot);
  auto so = at::sin(omega);
  return (at::sin((1.0 - val) * omega) / so).unsqueeze(1) * low +
         (at::sin(val * omega) / so).unsqueeze(1) * high;
}

/// One image's generator: a torch generator (CPU or CUDA) or the NV Philox state.
struct noise_generator {
  rng_source kind = rng_source::cpu; // cpu, gpu (a CUDA generator) or nv
  at::Generator gen;
  uint64_t seed = 0;
  uint64_t offset = 0;
  at::Device device{at::kCPU};

  noise_generator(rng_source k, int64_t s, at::Device dev) : kind(k), seed(static_cast<uint64_t>(s)), device(dev) {
    if (kind == rng_source::cpu) {
      gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    } else if (kind == rng_source::gpu) {
      // A clone of the device's default generator is a fresh generator of the same kind.
      gen = at::globalContext().defaultGenerator(device).clone();
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_current_seed(seed);
    }
  }

  at::Tensor draw(at::IntArrayRef shape) {
    if (kind == rng_source::nv) return randn_nv(seed, offset++, shape);
    auto options = at::TensorOptions().dtype(at::kFloat);
    if (kind == rng_source::gpu) options = options.device(device);
    return at::randn(shape, gen, options);
  }
};

at::Tensor randn_local(rng_source source, uint64_t seed, at::IntArrayRef shape, at::Device device) {
  if (source == rng_source::gpu && !device.is_cuda()) source = rng_source::cpu;
  noise_generator g(source, static_cast<int64_t>(seed), device);
  return g.draw(shape).to(device);
}

/// Noise drawn on the host to the device: one copy of the whole batch, from pinned memory and
/// asynchronous on the device's stream (which orders it before any use).
namespace {
at::Tensor to_device(const at::Tensor& noise, at::Device device) {
  if (!device.is_cuda() || !noise.device().is_cpu()) return noise.to(device);
  return noise.pin_memory().to(device, /*non_blocking=*/true);
}
} // namespace

struct image_rng::impl {
  rng_source source;
  std::vector<int64_t> seeds, subseeds;
  double subseed_strength;
  std::array<int64_t, 3> shape;
  int from_h, from_w;
  int64_t ensd;
  at::Device device;
  std::vector<noise_generator> generators;
  bool is_first = true;

  rng_source effective() const {
    if (source == rng_source::gpu && !device.is_cuda()) return rng_source::cpu;
    return source;
  }
  void make_generators(int64_t delta) {
    generators.clear();
    for (auto s : seeds) generators.emplace_back(effective(), s + delta, device);
  }
  at::Tensor fresh(int64_t seed, at::IntArrayRef shape_) {
    noise_generator g(effective(), seed, device);
    return g.draw(shape_);
  }
};

image_rng::image_rng(rng_source source, std::vector<int64_t> seeds, std::vector<int64_t> subseeds,
                     double subseed_strength, std::array<int64_t, 3> shape_chw, int seed_resize_from_h,
                     int seed_resize_from_w, int64_t eta_noise_seed_delta, at::Device device)
  : impl_(new impl{source, std::move(seeds), std::move(subseeds), subseed_strength, shape_chw,
                   seed_resize_from_h, seed_resize_from_w, eta_noise_seed_delta, device, {}, true}) {
  if (impl_->seeds.empty()) throw error(errc::bad_request, "seed", "no seeds for the batch");
  for (auto d : shape_chw)
    if (d <= 0) throw error(errc::bad_request, "shape", "latent dimensions must be positive");
  impl_->make_generators(0);
}

image_rng::~image_rng() = default;
image_rng::image_rng(image_rng&&) noexcept = default;
image_rng& image_rng::operator=(image_rng&&) noexcept = default;

at::Tensor image_rng::first() {
  auto& s = *impl_;
  s.is_first = false;
  const std::vector<int64_t> shape(s.shape.begin(), s.shape.end());
  std::vector<int64_t> noise_shape = shape;
  if (s.from_h > 0 && s.from_w > 0) noise_shape = {shape[0], s.from_h / 8, s.from_w / 8};
  const bool resized = noise_shape != shape;
  if (resized && (noise_shape[1] <= 0 || noise_shape[2] <= 0))
    throw error(errc::bad_request, "seed_resize_from_w", "seed resize size must be at least 8 pixels");

  std::vector<at::Tensor> xs;
  for (size_t i = 0; i < s.seeds.size(); ++i) {
    at::Tensor subnoise;
    if (s.subseed_strength != 0) {
      const int64_t subseed = i < s.subseeds.size() ? s.subseeds[i] : 0;
      subnoise = s.fresh(subseed, noise_shape);
    }
    at::Tensor noise = resized ? s.fresh(s.seeds[i], noise_shape) : s.generators[i].draw(shape);
    if (subnoise.defined()) noise = slerp_noise(s.subseed_strength, noise, subnoise);
    if (resized) {
      auto x = s.generators[i].draw(shape);
      int64_t dx = floor_div(shape[2] - noise_shape[2], 2);
      int64_t dy = floor_div(shape[1] - noise_shape[1], 2);
      const int64_t w = dx >= 0 ? noise_shape[2] : noise_shape[2] + 2 * dx;
      const int64_t h = dy >= 0 ? noise_shape[1] : noise_shape[1] + 2 * dy;
      const int64_t tx = dx < 0 ? 0 : dx, ty = dy < 0 ? 0 : dy;
      dx = std::max<int64_t>(-dx, 0);
      dy = std::max<int64_t>(-dy, 0);
      x.slice(1, ty, ty + h).slice(2, tx, tx + w).copy_(noise.slice(1, dy, dy + h).slice(2, dx, dx + w));
      noise = x;
    }
    xs.push_back(noise);
  }
  if (s.ensd != 0) s.make_generators(s.ensd);
  return to_device(at::stack(xs), s.device);
}

at::Tensor image_rng::next() {
  auto& s = *impl_;
  if (s.is_first) return first();
  const std::vector<int64_t> shape(s.shape.begin(), s.shape.end());
  std::vector<at::Tensor> xs;
  for (auto& g : s.generators) xs.push_back(g.draw(shape));
  return to_device(at::stack(xs), s.device);
}

} // namespace sdw
