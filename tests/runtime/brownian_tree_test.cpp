#define BOOST_TEST_MODULE brownian_tree
#include <boost/test/unit_test.hpp>

#include "runtime/base/errors.hpp"
#include "runtime/engine/brownian_noise.hpp"
#include "runtime/engine/brownian_tree.hpp"
#include "runtime/engine/rng.hpp"
#include "runtime/engine/seed_sequence.hpp"
#include "tests/runtime/python_reference.hpp"

#include <ATen/ATen.h>

#include <cstdlib>

using namespace sdw;

namespace {

struct reference {
  test::temp_dir tmp{"brownian"};
  std::string dir = tmp.path;
  reference() { test::run_python("brownian_reference.py", dir); }
};

const reference& ref() {
  static reference r;
  return r;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep))
    if (!item.empty()) out.push_back(item);
  return out;
}

/// A decimal integer of any size as numpy's entropy words (lowest first).
std::vector<uint32_t> big_words(const std::string& decimal) {
  std::vector<uint32_t> w{0};
  for (char ch : decimal) {
    uint64_t carry = static_cast<uint64_t>(ch - '0');
    for (auto& word : w) {
      const uint64_t v = static_cast<uint64_t>(word) * 10 + carry;
      word = static_cast<uint32_t>(v);
      carry = v >> 32;
    }
    if (carry) w.push_back(static_cast<uint32_t>(carry));
  }
  return w;
}

double hex_double(const std::string& s) { return std::strtod(s.c_str(), nullptr); }

} // namespace

BOOST_AUTO_TEST_CASE(seed_sequence_states_match_numpy) {
  const auto rows = test::read_manifest(ref().dir + "/seed_sequence.txt", '|');
  BOOST_REQUIRE_GE(rows.size(), 100u);
  for (const auto& r : rows) {
    // An empty spawn key leaves its field empty.
    const bool keyed = r.size() == 4;
    BOOST_TEST_CONTEXT("entropy " << r[0] << " key " << (keyed ? r[1] : "()")) {
      std::vector<uint32_t> key;
      if (keyed)
        for (const auto& k : split(r[1], ',')) {
          const auto w = big_words(k);
          key.insert(key.end(), w.begin(), w.end());
        }
      const auto want = split(r[keyed ? 3 : 2], ' ');
      const auto got = seed_sequence_state(big_words(r[0]), key, std::stoul(r[keyed ? 2 : 1]), want.size());
      for (size_t i = 0; i < want.size(); ++i) BOOST_CHECK_EQUAL(got[i], std::stoul(want[i]));
    }
  }
  BOOST_CHECK(uint32_words(0) == std::vector<uint32_t>{0});
  BOOST_CHECK((uint32_words((uint64_t{1} << 32) + 5) == std::vector<uint32_t>{5, 1}));
}

BOOST_AUTO_TEST_CASE(round_decimal_is_pythons_round) {
  const auto rows = test::read_manifest(ref().dir + "/round.txt");
  BOOST_REQUIRE_GE(rows.size(), 400u);
  for (const auto& r : rows) {
    const double x = hex_double(r[0]);
    BOOST_TEST_CONTEXT(r[0]) { BOOST_CHECK_EQUAL(round_decimal(x, 6), hex_double(r[1])); }
  }
}

BOOST_AUTO_TEST_CASE(tree_increments_match_torchsde_in_any_query_order) {
  const auto rows = test::read_manifest(ref().dir + "/trees.txt", '|');
  BOOST_REQUIRE_GE(rows.size(), 40u);
  std::map<std::string, at::Tensor> in_order;
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT("case " << r[0] << " (" << r[1] << ", seed " << r[2] << ")") {
      // A shape () case leaves its field empty.
      const bool scalar = r.size() == 6;
      std::vector<int64_t> shape;
      if (!scalar)
        for (const auto& d : split(r[3], ',')) shape.push_back(std::stoll(d));
      const size_t at = scalar ? 3 : 4;
      // torchsde's own draws are the CPU generator's, as A1111's CPU source.
      const rng_source source = r[1] == "NV" ? rng_source::nv : rng_source::cpu;
      brownian_tree tree(hex_double(r[at]), hex_double(r[at + 1]), std::stoull(r[2]),
                         [&](uint32_t seed) { return randn_local(source, seed, shape, at::kCPU); });
      std::vector<at::Tensor> ws;
      for (const auto& q : split(r[at + 2], ',')) {
        const auto ab = split(q, ':');
        ws.push_back(tree(hex_double(ab[0]), hex_double(ab[1])));
      }
      const auto got = at::stack(ws);
      const auto want = test::read_floats(ref().dir + "/" + r[0] + ".bin").view(got.sizes());
      // Same draws and the same float32 operations: equal bits.
      BOOST_CHECK_EQUAL(test::max_abs_diff(got, want), 0.0);
      if (r[0].find("_in_order") != std::string::npos) {
        in_order[r[0].substr(0, r[0].find('_'))] = got;
      } else {
        // The shuffled queries gave the same increments as the ordered ones (compare as sets).
        const auto a = in_order.at(r[0].substr(0, r[0].find('_'))).reshape({-1});
        BOOST_CHECK(at::equal(std::get<0>(a.sort()), std::get<0>(got.reshape({-1}).sort())));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(increments_add_up_and_queries_are_checked) {
  auto draw = [](uint32_t seed) { return randn_local(rng_source::cpu, seed, {3, 4}, at::kCPU); };
  brownian_tree tree(0.5, 8.0, 42, draw);
  // W is additive over adjacent intervals (up to float rounding).
  const auto whole = tree(1.0, 6.0);
  const auto parts = tree(1.0, 2.5) + tree(2.5, 6.0);
  BOOST_CHECK_LE(test::max_abs_diff(whole, parts), 1e-5);
  BOOST_CHECK(at::equal(tree(3.0, 3.0), at::zeros({3, 4})));
  BOOST_CHECK_THROW(tree(3.0, 2.0), error);
  BOOST_CHECK_THROW(tree(3.0, 3.0000001), error);  // below the 1e-6 resolution
  BOOST_CHECK_THROW(brownian_tree(2.0, 1.0, 1, draw), error);
}

BOOST_AUTO_TEST_CASE(gpu_source_without_cuda_draws_like_cpu) {
  const auto a = randn_local(rng_source::gpu, 1234, {2, 3}, at::kCPU);
  const auto b = randn_local(rng_source::cpu, 1234, {2, 3}, at::kCPU);
  BOOST_CHECK(at::equal(a, b));
  BOOST_CHECK(!at::equal(randn_local(rng_source::nv, 1234, {2, 3}, at::kCPU), b));
}

BOOST_AUTO_TEST_CASE(noise_sampler_per_image_trees_do_not_depend_on_the_batch) {
  const auto sigmas = at::tensor({14.6f, 7.0f, 3.0f, 1.0f, 0.1f, 0.0f});
  const std::array<int64_t, 3> chw{4, 3, 5};
  auto both = a1111_noise_sampler(sigmas, {10, 11}, chw, rng_source::cpu, at::kCPU, false);
  auto second = a1111_noise_sampler(sigmas, {11}, chw, rng_source::cpu, at::kCPU, false);
  for (int i = 0; i + 1 < 5; ++i) {
    const auto n2 = both(sigmas[i], sigmas[i + 1]);
    BOOST_CHECK(n2.sizes() == (std::vector<int64_t>{2, 4, 3, 5}));
    BOOST_CHECK(at::equal(n2[1], second(sigmas[i], sigmas[i + 1])[0]));
  }
  // With the option, k-diffusion's one tree over the batch: other values, the batch's shape.
  auto one = a1111_noise_sampler(sigmas, {10, 11}, chw, rng_source::cpu, at::kCPU, true);
  const auto n = one(sigmas[0], sigmas[1]);
  BOOST_CHECK(n.sizes() == (std::vector<int64_t>{2, 4, 3, 5}));
  BOOST_CHECK(!at::equal(n[1], second(sigmas[0], sigmas[1])[0]));
  BOOST_CHECK_THROW(a1111_noise_sampler(sigmas, {-5}, chw, rng_source::cpu, at::kCPU, false), error);
}
