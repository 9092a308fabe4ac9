#define BOOST_TEST_MODULE noise_schedule
#include <boost/test/unit_test.hpp>

#include "runtime/base/errors.hpp"
#include "runtime/engine/noise_schedule.hpp"
#include "tests/runtime/python_reference.hpp"

#include <ATen/ATen.h>

using namespace sdw;

namespace {

discrete_schedule sd1() { return discrete_schedule(discrete_schedule::sd1_alphas_cumprod()); }

void check_values(const at::Tensor& got, const std::vector<double>& want, double tol) {
  BOOST_REQUIRE_EQUAL(got.size(0), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i)
    BOOST_CHECK_MESSAGE(std::abs(got[i].item<double>() - want[i]) <= tol,
                        "entry " << i << ": " << got[i].item<double>() << " vs " << want[i]);
}

struct reference {
  test::temp_dir tmp{"sched"};
  std::string dir = tmp.path;
  reference() { test::run_python("schedule_reference.py", dir); }
};

const reference& ref() {
  static reference r;
  return r;
}

} // namespace

BOOST_AUTO_TEST_CASE(sd1_schedule_known_values) {
  auto s = sd1();
  BOOST_CHECK_EQUAL(s.sigmas().size(0), 1000);
  BOOST_CHECK(s.sigmas().scalar_type() == at::kFloat);
  BOOST_CHECK_CLOSE(s.sigma_min(), 0.029168, 0.01);
  BOOST_CHECK_CLOSE(s.sigma_max(), 14.614641, 0.001);
  BOOST_CHECK(s.sigmas().diff().gt(0).all().item<bool>());
}

BOOST_AUTO_TEST_CASE(spec_reference_values_karras_and_uniform) {
  auto s = sd1();
  check_values(make_sigmas(s, scheduler_kind::karras, 20),
               {14.6146, 11.7254, 9.3402, 7.3836, 5.7894, 4.4998, 3.4648, 2.6408, 1.9909, 1.4832, 1.0908,
                0.7909, 0.5647, 0.3964, 0.2730, 0.1842, 0.1213, 0.0779, 0.0485, 0.0292, 0},
               5e-5);
  check_values(make_sigmas(s, scheduler_kind::uniform, 20),
               {14.6146, 10.7468, 8.0815, 6.2049, 4.8557, 3.8654, 3.1238, 2.5572, 2.1157, 1.7648, 1.4806,
                1.2458, 1.0481, 0.8784, 0.7297, 0.5964, 0.4736, 0.3555, 0.2322, 0.0292, 0},
               5e-5);
}

BOOST_AUTO_TEST_CASE(schedule_matches_python_recomputation) {
  auto s = sd1();
  auto ac = test::read_floats(ref().dir + "/alphas_cumprod.bin");
  BOOST_CHECK_EQUAL(test::max_abs_diff(s.alphas_cumprod(), ac), 0.0);
  BOOST_CHECK_EQUAL(test::max_abs_diff(s.sigmas(), test::read_floats(ref().dir + "/model_sigmas.bin")), 0.0);
  auto probe = at::tensor({0.0291675, 0.03, 0.1, 0.5, 1.0, 2.5, 7.0, 14.0, 14.6146, 20.0, 0.01}, at::kFloat);
  BOOST_CHECK_LE(test::max_abs_diff(s.sigma_to_t(probe), test::read_floats(ref().dir + "/sigma_to_t.bin")), 1e-4);
  auto ts = at::tensor({0.0, 0.25, 1.5, 10.0, 499.5, 998.75, 999.0}, at::kFloat);
  BOOST_CHECK_LE(test::max_abs_diff(s.t_to_sigma(ts), test::read_floats(ref().dir + "/t_to_sigma.bin")), 1e-6);
  // A 0-d sigma keeps its shape.
  BOOST_CHECK_EQUAL(s.sigma_to_t(at::full({}, 1.0, at::kFloat)).dim(), 0);
}

BOOST_AUTO_TEST_CASE(every_scheduler_matches_python_recomputation) {
  auto s = sd1();
  auto rows = test::read_manifest(ref().dir + "/manifest.txt");
  BOOST_REQUIRE_GE(rows.size(), 10u);
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT("case " << r[0]) {
      sigma_options o;
      o.sigma_min = std::stod(r[3]);
      o.sigma_max = std::stod(r[4]);
      o.rho = std::stod(r[5]);
      o.discard_next_to_last_sigma = r[6] == "1";
      o.use_old_karras = r[7] == "1";
      auto got = make_sigmas(s, parse_scheduler(r[1]), std::stoi(r[2]), o);
      auto want = test::read_floats(ref().dir + "/" + r[0] + ".bin");
      BOOST_REQUIRE_EQUAL(got.size(0), want.size(0));
      BOOST_CHECK(got.scalar_type() == at::kFloat);
      BOOST_CHECK_LE(test::max_abs_diff(got, want), 1e-6);
      BOOST_CHECK_EQUAL(got[-1].item<float>(), 0.0f);
    }
  }
}

// The LCM sampler's denoiser works on a table of 50 of the model's timesteps (A1111's
// LCMCompVisDenoiser): σ to the nearest entry's timestep, timesteps back through the table, and every
// scheduler on that table's range.
BOOST_AUTO_TEST_CASE(lcm_schedule_matches_python_recomputation) {
  const discrete_schedule model = sd1();
  const discrete_schedule lcm = discrete_schedule::lcm(model);
  BOOST_CHECK_EQUAL(model.lcm_skip_steps(), 0);
  BOOST_CHECK_EQUAL(lcm.lcm_skip_steps(), 20);
  BOOST_CHECK_EQUAL(test::max_abs_diff(lcm.sigmas(), test::read_floats(ref().dir + "/lcm_sigmas.bin")), 0.0);
  // Its ends are the model's σ at timesteps 19 and 999.
  BOOST_CHECK_EQUAL(lcm.sigma_min(), model.sigmas()[19].item<double>());
  BOOST_CHECK_EQUAL(lcm.sigma_max(), model.sigma_max());
  auto probe = at::tensor({0.0291675, 0.03, 0.1, 0.5, 1.0, 2.5, 7.0, 14.0, 14.6146, 20.0, 0.01}, at::kFloat);
  BOOST_CHECK_EQUAL(test::max_abs_diff(lcm.sigma_to_t(probe), test::read_floats(ref().dir + "/lcm_sigma_to_t.bin")), 0.0);
  auto ts = at::tensor({0.0, 19.0, 25.0, 39.0, 500.0, 998.0, 999.0, 1200.0}, at::kFloat);
  BOOST_CHECK_LE(test::max_abs_diff(lcm.t_to_sigma(ts), test::read_floats(ref().dir + "/lcm_t_to_sigma.bin")), 1e-6);
  auto rows = test::read_manifest(ref().dir + "/lcm_manifest.txt");
  BOOST_REQUIRE_GE(rows.size(), 5u);
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT("case " << r[0]) {
      auto got = make_sigmas(lcm, parse_scheduler(r[1]), std::stoi(r[2]));
      auto want = test::read_floats(ref().dir + "/" + r[0] + ".bin");
      BOOST_REQUIRE_EQUAL(got.size(0), want.size(0));
      BOOST_CHECK_LE(test::max_abs_diff(got, want), 1e-6);
    }
  }
  // A schedule of another length has no LCM table.
  try {
    discrete_schedule::lcm(discrete_schedule(discrete_schedule::sd1_alphas_cumprod(0.00085, 0.012, 500)));
    BOOST_FAIL("an LCM table from 500 timesteps");
  } catch (const error& e) {
    BOOST_CHECK(e.code() == errc::bad_checkpoint);
  }
}

// Option sd_noise_schedule "Zero Terminal SNR": A1111 rescales ᾱ so that the last timestep is pure
// noise (σ_max in the thousands), and every sigma list follows from the rescaled table.
BOOST_AUTO_TEST_CASE(zero_terminal_snr_matches_python_recomputation) {
  const discrete_schedule model = sd1();
  const discrete_schedule z = discrete_schedule::zero_terminal_snr(model);
  BOOST_CHECK_EQUAL(test::max_abs_diff(z.alphas_cumprod(), test::read_floats(ref().dir + "/ztsnr_alphas_cumprod.bin")), 0.0);
  BOOST_CHECK_EQUAL(z.alphas_cumprod()[0].item<float>(), model.alphas_cumprod()[0].item<float>());
  BOOST_CHECK_GT(z.sigma_max(), 4000.0);
  for (const auto& [kind, steps] : {std::pair<std::string, int>{"uniform", 9}, {"karras", 7}}) {
    BOOST_TEST_CONTEXT(kind) {
      auto want = test::read_floats(ref().dir + "/ztsnr_" + kind + std::to_string(steps) + ".bin");
      auto got = make_sigmas(z, parse_scheduler(kind), steps);
      BOOST_REQUIRE_EQUAL(got.size(0), want.size(0));
      BOOST_CHECK_LE((got - want).abs().div(want.abs().clamp_min(1e-3)).max().item<double>(), 1e-6);
    }
  }
  auto lcm = make_sigmas(discrete_schedule::lcm(z), scheduler_kind::automatic, 4);
  BOOST_CHECK_LE(test::max_abs_diff(lcm, test::read_floats(ref().dir + "/ztsnr_lcm4.bin")) / lcm[0].item<double>(), 1e-6);
  BOOST_CHECK(parse_noise_schedule("Default") == noise_schedule_kind::model_default);
  BOOST_CHECK(parse_noise_schedule("Zero Terminal SNR") == noise_schedule_kind::zero_terminal_snr);
  BOOST_CHECK_THROW(parse_noise_schedule("zero terminal snr"), error);
}

BOOST_AUTO_TEST_CASE(discard_removes_the_penultimate_sigma) {
  auto s = sd1();
  sigma_options o;
  o.discard_next_to_last_sigma = true;
  auto full = make_sigmas(s, scheduler_kind::karras, 21);
  auto cut = make_sigmas(s, scheduler_kind::karras, 20, o);
  BOOST_REQUIRE_EQUAL(cut.size(0), 21);
  BOOST_CHECK(at::equal(cut.slice(0, 0, 20), full.slice(0, 0, 20)));
  BOOST_CHECK_EQUAL(cut[20].item<float>(), 0.0f);
  BOOST_CHECK_EQUAL(cut[19].item<float>(), full[19].item<float>());
}

BOOST_AUTO_TEST_CASE(scheduler_names_and_labels) {
  BOOST_CHECK(parse_scheduler(std::string("karras")) == scheduler_kind::karras);
  BOOST_CHECK(parse_scheduler(std::string("Karras")) == scheduler_kind::karras);
  BOOST_CHECK(parse_scheduler(std::string("SGM Uniform")) == scheduler_kind::sgm_uniform);
  BOOST_CHECK(parse_scheduler(std::string("sgm_uniform")) == scheduler_kind::sgm_uniform);
  // Aliases are not in A1111's lookup map; unknown names fall back to Automatic.
  BOOST_CHECK(parse_scheduler(std::string("SGMUniform")) == scheduler_kind::automatic);
  BOOST_CHECK(parse_scheduler(std::string("nonsense")) == scheduler_kind::automatic);
  BOOST_CHECK(parse_scheduler(std::nullopt) == scheduler_kind::automatic);
  BOOST_CHECK_EQUAL(std::string(scheduler_label(scheduler_kind::polyexponential)), "Polyexponential");
  BOOST_CHECK_EQUAL(std::string(scheduler_label(scheduler_kind::automatic)), "Automatic");
}

BOOST_AUTO_TEST_CASE(bad_input_names_the_field) {
  auto s = sd1();
  try {
    make_sigmas(s, scheduler_kind::karras, 0);
    BOOST_FAIL("steps 0 accepted");
  } catch (const error& e) {
    BOOST_CHECK_EQUAL(e.where(), "steps");
    BOOST_CHECK(e.code() == errc::bad_request);
  }
  try {
    s.t_to_sigma(at::tensor({1000.5f}));
    BOOST_FAIL("timestep beyond the schedule accepted");
  } catch (const error& e) {
    BOOST_CHECK_EQUAL(e.where(), "timestep");
  }
  try {
    discrete_schedule bad(at::ones({10, 2}));
    BOOST_FAIL("2-D alphas_cumprod accepted");
  } catch (const error& e) {
    BOOST_CHECK_EQUAL(e.where(), "alphas_cumprod");
  }
}
