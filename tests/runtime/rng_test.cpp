#define BOOST_TEST_MODULE rng
#include <boost/test/unit_test.hpp>

#include "runtime/base/errors.hpp"
#include "runtime/engine/rng.hpp"
#include "tests/runtime/python_reference.hpp"

#include <ATen/ATen.h>

using namespace sdw;

namespace {

struct reference {
  test::temp_dir tmp{"rng"};
  std::string dir = tmp.path;
  reference() { test::run_python("rng_reference.py", dir); }
  at::Tensor get(const std::string& name) const { return test::read_floats(dir + "/" + name + ".bin"); }
};

const reference& ref() {
  static reference r;
  return r;
}

image_rng cpu_rng(std::vector<int64_t> seeds, std::vector<int64_t> subseeds, double strength, int from_h = 0,
                  int from_w = 0, int64_t ensd = 0) {
  return image_rng(rng_source::cpu, std::move(seeds), std::move(subseeds), strength, {4, 8, 8}, from_h, from_w,
                   ensd, at::kCPU);
}

} // namespace

BOOST_AUTO_TEST_CASE(parse_sources) {
  BOOST_CHECK(parse_rng_source("GPU") == rng_source::gpu);
  BOOST_CHECK(parse_rng_source("CPU") == rng_source::cpu);
  BOOST_CHECK(parse_rng_source("NV") == rng_source::nv);
  try {
    parse_rng_source("cpu");
    BOOST_FAIL("lower-case source accepted");
  } catch (const error& e) {
    BOOST_CHECK_EQUAL(e.where(), "randn_source");
  }
}

BOOST_AUTO_TEST_CASE(cpu_draws_match_torch_generator) {
  for (int64_t seed : {int64_t(12345), int64_t(777), (int64_t(1) << 32) + 777}) {
    BOOST_TEST_CONTEXT("seed " << seed) {
      auto rng = cpu_rng({seed}, {}, 0);
      auto a = rng.first();
      auto b = rng.next();
      BOOST_CHECK(a.sizes() == at::IntArrayRef({1, 4, 8, 8}));
      auto want = ref().get("cpu_" + std::to_string(seed));
      BOOST_CHECK_EQUAL(test::max_abs_diff(at::cat({a, b}), want), 0.0);
    }
  }
}

BOOST_AUTO_TEST_CASE(batch_items_equal_single_image_runs) {
  auto batch = cpu_rng({12345, 777}, {}, 0);
  auto one = cpu_rng({777}, {}, 0);
  BOOST_CHECK(at::equal(batch.first()[1], one.first()[0]));
  BOOST_CHECK(at::equal(batch.next()[1], one.next()[0]));
}

BOOST_AUTO_TEST_CASE(nv_self_check_and_numpy_port) {
  auto nv = randn_nv(0, 0, {3, 4});
  const std::vector<double> doc = {-0.92466259, -0.42534415, -2.6438457,  0.14518388,
                                   -0.12086647, -0.57972564, -0.62285122, -0.32838709,
                                   -1.07454231, -0.36314407, -1.67105067, 2.26550497};
  // The documented values came from CUDA; the numpy emulation agrees with them to a few float32 ulps.
  BOOST_CHECK_LE(test::max_abs_diff(nv, at::tensor(doc, at::kDouble)), 1e-6);
  BOOST_CHECK_EQUAL(test::max_abs_diff(nv, ref().get("nv_0_0_3x4")), 0.0);
  BOOST_CHECK_EQUAL(test::max_abs_diff(randn_nv(123456789012ull, 1, {4, 5, 6}), ref().get("nv_123456789012_1_4x5x6")), 0.0);
}

BOOST_AUTO_TEST_CASE(nv_image_rng_advances_offset) {
  image_rng rng(rng_source::nv, {42}, {}, 0, {4, 8, 8}, 0, 0, 0, at::kCPU);
  BOOST_CHECK_EQUAL(test::max_abs_diff(rng.first(), ref().get("nv_42_0_4x8x8")), 0.0);
  BOOST_CHECK_EQUAL(test::max_abs_diff(rng.next(), ref().get("nv_42_1_4x8x8")), 0.0);
}

BOOST_AUTO_TEST_CASE(gpu_source_without_cuda_falls_back_to_cpu) {
  image_rng gpu(rng_source::gpu, {12345}, {}, 0, {4, 8, 8}, 0, 0, 0, at::kCPU);
  auto want = ref().get("cpu_12345");
  BOOST_CHECK_EQUAL(test::max_abs_diff(gpu.first(), want.slice(0, 0, 256)), 0.0);
}

BOOST_AUTO_TEST_CASE(variation_strength_zero_and_one) {
  auto main_noise = cpu_rng({100}, {}, 0).first();
  auto sub_noise = cpu_rng({200}, {}, 0).first();
  // Strength 0 does not even draw the subseed noise.
  BOOST_CHECK(at::equal(cpu_rng({100}, {200}, 0.0).first(), main_noise));
  BOOST_CHECK_LE(test::max_abs_diff(cpu_rng({100}, {200}, 1.0).first(), sub_noise), 1e-5);
}

BOOST_AUTO_TEST_CASE(variation_matches_python) {
  BOOST_CHECK_LE(test::max_abs_diff(cpu_rng({100, 101}, {200, 201}, 0.3).first(), ref().get("variation_0.3")), 1e-6);
  BOOST_CHECK_LE(test::max_abs_diff(cpu_rng({100, 101}, {200}, 0.6).first(), ref().get("variation_short_subseeds")),
                 1e-6);
}

BOOST_AUTO_TEST_CASE(same_seed_hits_swapped_linear_fallback) {
  auto x = cpu_rng({5, 5}, {5, 5}, 0.25).first();
  auto plain = cpu_rng({5}, {}, 0).first()[0];
  // Identical inputs: low·0.25 + high·0.75 = the noise itself, via the linear branch.
  BOOST_CHECK_LE(test::max_abs_diff(x[0], plain), 1e-6);
  BOOST_CHECK_LE(test::max_abs_diff(x, ref().get("variation_same_seed")), 1e-6);
  // The fallback's weights are swapped relative to slerp: 0.25 weighs the first argument.
  auto a = at::ones({4, 8, 8});
  auto b = a * 1.0001;
  auto mixed = slerp_noise(0.25, a, b);
  BOOST_CHECK_CLOSE(mixed[0][0][0].item<double>(), 0.25 * 1.0 + 0.75 * 1.0001, 1e-4);
}

BOOST_AUTO_TEST_CASE(seed_resize_matches_python) {
  auto rng = cpu_rng({100, 101}, {}, 0, 48, 80);
  BOOST_CHECK_EQUAL(test::max_abs_diff(rng.first(), ref().get("resize_48x80")), 0.0);
  BOOST_CHECK_EQUAL(test::max_abs_diff(rng.next(), ref().get("resize_48x80_next")), 0.0);
  BOOST_CHECK_LE(test::max_abs_diff(cpu_rng({9}, {19}, 0.5, 40, 88).first(), ref().get("resize_40x88_variation")),
                 1e-6);
}

BOOST_AUTO_TEST_CASE(ensd_reseeds_after_first_draw) {
  auto rng = cpu_rng({3, 4}, {}, 0, 0, 0, 31337);
  auto first = rng.first();
  BOOST_CHECK(at::equal(first, cpu_rng({3, 4}, {}, 0).first()));
  BOOST_CHECK_EQUAL(test::max_abs_diff(rng.next(), ref().get("ensd_next")), 0.0);
}

BOOST_AUTO_TEST_CASE(next_before_first_returns_first) {
  auto a = cpu_rng({7}, {}, 0);
  auto b = cpu_rng({7}, {}, 0);
  BOOST_CHECK(at::equal(a.next(), b.first()));
}
