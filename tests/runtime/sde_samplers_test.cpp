#define BOOST_TEST_MODULE sde_samplers
#include <boost/test/unit_test.hpp>

#include "runtime/engine/brownian_noise.hpp"
#include "runtime/engine/samplers.hpp"
#include "tests/runtime/python_reference.hpp"

#include <ATen/ATen.h>

using namespace sdw;

// DPM++ SDE, 2M SDE, 2M SDE Heun and 3M SDE against k-diffusion's own functions with the noise
// sampler A1111 builds (sde_sampler_reference.py), on samplers_test's analytic model.

namespace {

const std::array<int64_t, 3> k_chw = {4, 8, 8};

struct reference {
  test::temp_dir tmp{"sde_samplers"};
  std::string dir = tmp.path;
  at::Tensor x0;
  reference() {
    test::run_python("sde_sampler_reference.py", dir);
    x0 = test::read_floats(dir + "/x0.bin").view({2, k_chw[0], k_chw[1], k_chw[2]});
  }
};

const reference& ref() {
  static reference r;
  return r;
}

const discrete_schedule& sd1() {
  static discrete_schedule s(discrete_schedule::sd1_alphas_cumprod());
  return s;
}

std::vector<int64_t> seeds_of(const std::string& list) {
  std::vector<int64_t> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::stoll(item));
  return out;
}

} // namespace

BOOST_AUTO_TEST_CASE(sde_samplers_match_kdiffusion_with_a1111s_brownian_trees) {
  const auto rows = test::read_manifest(ref().dir + "/manifest.txt", '|');
  BOOST_REQUIRE_GE(rows.size(), 12u);
  std::set<std::string> covered;
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT("case " << r[0]) {
      const auto* info = find_sampler(r[1]);
      BOOST_REQUIRE(info);
      BOOST_REQUIRE(info->brownian_noise);
      covered.insert(r[1]);
      auto sigmas = test::read_floats(ref().dir + "/" + r[0] + ".sigmas.bin");
      sigma_options o;
      o.discard_next_to_last_sigma = info->discard_next_to_last_sigma;
      BOOST_REQUIRE_EQUAL(test::max_abs_diff(make_sigmas(sd1(), parse_scheduler(r[2]), std::stoi(r[3]), o), sigmas),
                          0.0);
      const auto seeds = seeds_of(r[8]);
      sampler_params p;
      p.eta = std::stod(r[4]);
      p.s_noise = std::stod(r[5]);
      auto trees = a1111_noise_sampler(sigmas, seeds, k_chw, parse_rng_source(r[6]), at::kCPU, r[7] == "1");
      int calls = 0;
      sampling_model m;
      m.denoise = [&](const at::Tensor& x, const at::Tensor& sigma) {
        ++calls;
        auto s = sigma.view({-1, 1, 1, 1});
        return x / (1 + s * s) * 0.8 + 0.05 * at::sin(x);
      };
      m.randn_like = [] () -> at::Tensor { throw std::runtime_error("an SDE sampler drew from randn_like"); };
      m.noise_sampler = [&](const at::Tensor& a, const at::Tensor& b) { return trees(a, b); };
      const auto n = static_cast<int64_t>(seeds.size());
      auto x = sample(*info, m, ref().x0.narrow(0, 0, n).clone(), sd1(), sigmas, p);
      auto want = test::read_floats(ref().dir + "/" + r[0] + ".x.bin").view(x.sizes());
      const double rel = test::max_abs_diff(x, want) / want.abs().max().item<double>();
      BOOST_TEST_MESSAGE(r[0] << ": max |x − k-diffusion| / max |k-diffusion| = " << rel);
      BOOST_CHECK_LE(rel, 1e-4);
      BOOST_CHECK_GT(calls, 0);
    }
  }
  BOOST_CHECK_EQUAL(covered.size(), 4u);
}

BOOST_AUTO_TEST_CASE(without_a_noise_sampler_the_sde_samplers_draw_from_randn_like) {
  sampling_model m;
  m.denoise = [](const at::Tensor& x, const at::Tensor&) { return x * 0.5; };
  int draws = 0;
  m.randn_like = [&] {
    ++draws;
    return at::zeros({1, 1, 2, 2});
  };
  sample(*find_sampler("DPM++ 2M SDE"), m, at::ones({1, 1, 2, 2}), sd1(),
         make_sigmas(sd1(), scheduler_kind::exponential, 5), {});
  BOOST_CHECK_EQUAL(draws, 4);
}
