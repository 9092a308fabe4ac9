#define BOOST_TEST_MODULE samplers
#include <boost/test/unit_test.hpp>

#include "runtime/base/errors.hpp"
#include "runtime/engine/samplers.hpp"
#include "tests/runtime/python_reference.hpp"

#include <ATen/ATen.h>

#include <set>

using namespace sdw;

namespace {

const std::vector<int64_t> k_shape = {2, 4, 5, 6};

struct reference {
  test::temp_dir tmp{"samplers"};
  std::string dir = tmp.path;
  at::Tensor x0, bank;
  reference() {
    test::run_python("sampler_reference.py", dir);
    x0 = test::read_floats(dir + "/x0.bin").view(k_shape);
    bank = test::read_floats(dir + "/noise.bin").view({-1, 2, 4, 5, 6});
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

/// The schedule of the sampler's model wrapper: LCM's table for LCM; for the reference's half_*
/// cases (option use_downcasted_alpha_bar) made from ᾱ rounded to fp16.
const discrete_schedule& schedule_of(const sampler_info& info, const std::string& reference_case = {}) {
  static discrete_schedule lcm = discrete_schedule::lcm(sd1());
  static discrete_schedule half = discrete_schedule::downcast(sd1());
  static discrete_schedule half_lcm = discrete_schedule::lcm(half);
  if (reference_case.rfind("half_", 0) == 0) return info.lcm_denoiser ? half_lcm : half;
  return info.lcm_denoiser ? lcm : sd1();
}

/// The analytic model of sampler_reference.py with call and draw counters.
struct fake_model {
  int calls = 0, draws = 0, steps_seen = 0;
  sampling_model m;
  fake_model() {
    m.denoise = [this](const at::Tensor& x, const at::Tensor& sigma) {
      ++calls;
      BOOST_REQUIRE_EQUAL(sigma.dim(), 1);
      BOOST_REQUIRE_EQUAL(sigma.size(0), x.size(0));
      auto s = sigma.view({-1, 1, 1, 1});
      return x / (1 + s * s) * 0.8 + 0.05 * at::sin(x);
    };
    m.eps = [this](const at::Tensor& x, const at::Tensor& t) {
      ++calls;
      BOOST_REQUIRE_EQUAL(t.size(0), x.size(0));
      auto tt = t.view({-1, 1, 1, 1});
      return x * (0.3 + tt / 2000) + 0.05 * at::cos(x);
    };
    m.randn_like = [this]() { return ref().bank[draws++].clone(); };
    m.on_step = [this](int step, int) { BOOST_CHECK_EQUAL(step, steps_seen++); };
  }
};

sampler_params params_of(const std::vector<std::string>& row) {
  sampler_params p;
  p.eta = std::stod(row[4]);
  if (row[5].find(':') != std::string::npos) {
    // UniPC cases: variant:skip_type:order:lower_order_final
    std::vector<std::string> f;
    std::stringstream ss(row[5]);
    std::string item;
    while (std::getline(ss, item, ':')) f.push_back(item);
    p.uni_pc_variant = f.at(0);
    p.uni_pc_skip_type = f.at(1);
    p.uni_pc_order = std::stoi(f.at(2));
    p.uni_pc_lower_order_final = f.at(3) == "1";
  } else {
    p.s_churn = std::stod(row[5]);
  }
  p.s_tmin = std::stod(row[6]);
  p.s_noise = std::stod(row[7]);
  return p;
}

} // namespace

BOOST_AUTO_TEST_CASE(list_order_and_options_as_a1111) {
  const auto& all = all_samplers();
  const std::vector<std::string> names = {"DPM++ 2M", "DPM++ SDE", "DPM++ 2M SDE", "DPM++ 2M SDE Heun", "DPM++ 2S a",
                                          "DPM++ 3M SDE", "Euler a", "Euler", "LMS", "Heun", "DPM2", "DPM2 a",
                                          "DPM fast", "DPM adaptive", "Restart", "DDIM", "PLMS", "UniPC", "LCM"};
  BOOST_REQUIRE_EQUAL(all.size(), names.size());
  for (size_t i = 0; i < names.size(); ++i) BOOST_CHECK_EQUAL(all[i].name, names[i]);
  const auto* sde = find_sampler("DPM++ SDE");
  BOOST_REQUIRE(sde);
  BOOST_CHECK(sde->options == (std::map<std::string, std::string>{
                                  {"scheduler", "karras"}, {"second_order", "True"}, {"brownian_noise", "True"}}));
  BOOST_CHECK(sde->default_scheduler == scheduler_kind::karras);
  const auto* heun = find_sampler("DPM++ 2M SDE Heun");
  BOOST_REQUIRE(heun);
  BOOST_CHECK_EQUAL(heun->options.at("solver_type"), "heun");
  BOOST_CHECK(find_sampler("DPM2 a")->discard_next_to_last_sigma);
  BOOST_CHECK(find_sampler("Euler a")->uses_ensd);
  BOOST_CHECK(find_sampler("Euler a")->aliases == (std::vector<std::string>{"k_euler_a", "k_euler_ancestral"}));
  BOOST_CHECK(find_sampler("DDIM")->timestep_based);
  BOOST_CHECK(find_sampler("Euler")->options.empty());
  // Exact names only: aliases and old "… Karras" names are not samplers in 1.9.4.
  BOOST_CHECK(find_sampler("k_euler") == nullptr);
  BOOST_CHECK(find_sampler("DPM++ 2M Karras") == nullptr);
  BOOST_CHECK(find_sampler("euler") == nullptr);
}

BOOST_AUTO_TEST_CASE(automatic_scheduler_resolves_to_sampler_default) {
  BOOST_CHECK(effective_scheduler(*find_sampler("DPM++ 2M"), scheduler_kind::automatic) == scheduler_kind::karras);
  BOOST_CHECK(effective_scheduler(*find_sampler("DPM++ 3M SDE"), scheduler_kind::automatic) ==
              scheduler_kind::exponential);
  BOOST_CHECK(effective_scheduler(*find_sampler("Euler"), scheduler_kind::automatic) == scheduler_kind::automatic);
  BOOST_CHECK(effective_scheduler(*find_sampler("DPM++ 2M"), scheduler_kind::uniform) == scheduler_kind::uniform);
  BOOST_CHECK_EQUAL(default_eta(*find_sampler("DDIM")), 0.0);
  BOOST_CHECK_EQUAL(default_eta(*find_sampler("Euler a")), 1.0);
}

BOOST_AUTO_TEST_CASE(request_names_resolve_like_a1111) {
  auto r = resolve_sampler_and_scheduler(std::string("DPM++ 2M Karras"), std::nullopt);
  BOOST_CHECK_EQUAL(r.sampler->name, "DPM++ 2M");
  BOOST_CHECK(r.scheduler == scheduler_kind::automatic); // Karras is its default
  r = resolve_sampler_and_scheduler(std::string("Euler a"), std::string("Karras"));
  BOOST_CHECK_EQUAL(r.sampler->name, "Euler a");
  BOOST_CHECK(r.scheduler == scheduler_kind::karras);
  r = resolve_sampler_and_scheduler(std::string("Euler SGMUniform"), std::string("karras"));
  BOOST_CHECK_EQUAL(r.sampler->name, "Euler");
  BOOST_CHECK(r.scheduler == scheduler_kind::sgm_uniform);
  r = resolve_sampler_and_scheduler(std::string("DPM++ 2M SDE Exponential"), std::string("Uniform"));
  BOOST_CHECK_EQUAL(r.sampler->name, "DPM++ 2M SDE");
  BOOST_CHECK(r.scheduler == scheduler_kind::automatic);
  r = resolve_sampler_and_scheduler(std::string("no such sampler"), std::string("bogus"));
  BOOST_CHECK_EQUAL(r.sampler->name, "DPM++ 2M");
  BOOST_CHECK(r.scheduler == scheduler_kind::automatic);
  r = resolve_sampler_and_scheduler(std::nullopt, std::string("Exponential"));
  BOOST_CHECK_EQUAL(r.sampler->name, "DPM++ 2M");
  BOOST_CHECK(r.scheduler == scheduler_kind::exponential);
}

BOOST_AUTO_TEST_CASE(every_sampler_matches_python_reference) {
  auto rows = test::read_manifest(ref().dir + "/manifest.txt", '|');
  BOOST_REQUIRE_GE(rows.size(), 20u);
  std::set<std::string> covered;
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT("case " << r[0]) {
      const auto* info = find_sampler(r[1]);
      BOOST_REQUIRE(info);
      BOOST_REQUIRE(implemented(*info));
      covered.insert(r[1]);
      auto sigmas = test::read_floats(ref().dir + "/" + r[0] + ".sigmas.bin");
      // The C++ schedule builds the same sigmas.
      sigma_options o;
      o.discard_next_to_last_sigma = info->discard_next_to_last_sigma;
      auto own = make_sigmas(schedule_of(*info, r[0]), parse_scheduler(r[2]), std::stoi(r[3]), o);
      BOOST_REQUIRE_EQUAL(own.size(0), sigmas.size(0));
      BOOST_CHECK_LE(test::max_abs_diff(own, sigmas), 1e-6);

      fake_model fm;
      auto x = sample(*info, fm.m, ref().x0.clone(), schedule_of(*info, r[0]), sigmas, params_of(r));
      auto want = test::read_floats(ref().dir + "/" + r[0] + ".x.bin").view(k_shape);
      BOOST_CHECK(x.sizes() == want.sizes());
      const double scale = std::max(1.0, want.abs().max().item<double>());
      BOOST_TEST_MESSAGE(r[0] << ": max |x - ref| = " << test::max_abs_diff(x, want) << ", max |ref| = " << scale);
      BOOST_CHECK_LE(test::max_abs_diff(x, want), 1e-5 * scale);
      BOOST_CHECK_EQUAL(fm.calls, std::stoi(r[8]));
      BOOST_CHECK_EQUAL(fm.draws, std::stoi(r[9]));
      BOOST_CHECK_GT(fm.steps_seen, 0);
    }
  }
  BOOST_CHECK_EQUAL(covered.size(), all_samplers().size());  // every sampler of A1111's list
}

BOOST_AUTO_TEST_CASE(img2img_matches_python_reference) {
  auto rows = test::read_manifest(ref().dir + "/img2img.txt", '|');
  BOOST_REQUIRE_GE(rows.size(), 5u);
  auto init = (ref().x0 * 0.5).flip(-1).contiguous();
  auto noise = ref().bank[ref().bank.size(0) - 1];
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT("case " << r[0]) {
      const auto* info = find_sampler(r[1]);
      BOOST_REQUIRE(info);
      sigma_options o;
      o.discard_next_to_last_sigma = info->discard_next_to_last_sigma;
      auto sigmas = make_sigmas(schedule_of(*info, r[0]), parse_scheduler(r[2]), std::stoi(r[3]), o);
      fake_model fm;
      sampler_params p;
      p.eta = default_eta(*info);
      auto x = sample_img2img(*info, fm.m, init, noise, schedule_of(*info, r[0]), sigmas, std::stoi(r[4]), p);
      auto want = test::read_floats(ref().dir + "/" + r[0] + ".x.bin").view(k_shape);
      BOOST_CHECK_LE(test::max_abs_diff(x, want), 1e-5 * std::max(1.0, want.abs().max().item<double>()));
      BOOST_CHECK_EQUAL(fm.calls, std::stoi(r[5]));
      BOOST_CHECK_EQUAL(fm.draws, std::stoi(r[6]));
    }
  }
}

BOOST_AUTO_TEST_CASE(sgm_noise_multiplier_scales_the_start) {
  // A model that predicts 0 makes one Euler step from σ0=3 to σ1=1 scale x by 1/3, so the result
  // shows the starting latent: noise·3 normally, noise·√(1+9) with the option.
  sampling_model m;
  m.denoise = [](const at::Tensor& x, const at::Tensor&) { return at::zeros_like(x); };
  m.randn_like = [] { return at::zeros({1, 1, 1, 1}); };
  auto sigmas = at::tensor({3.0f, 1.0f});
  auto noise = at::ones({1, 1, 1, 1});
  sampler_params p;
  BOOST_CHECK_CLOSE(sample(*find_sampler("Euler"), m, noise, sd1(), sigmas, p).item<double>(), 1.0, 1e-4);
  p.sgm_noise_multiplier = true;
  BOOST_CHECK_CLOSE(sample(*find_sampler("Euler"), m, noise, sd1(), sigmas, p).item<double>(),
                    std::sqrt(10.0) / 3.0, 1e-4);
}

BOOST_AUTO_TEST_CASE(img2img_steps_as_a1111) {
  BOOST_CHECK(img2img_steps(20, 0.75) == std::make_pair(20, 15));
  BOOST_CHECK(img2img_steps(20, 1.0) == std::make_pair(20, 19));
  BOOST_CHECK(img2img_steps(20, 0.5, true) == std::make_pair(40, 19));
  BOOST_CHECK(img2img_steps(20, 0.0) == std::make_pair(20, 0));
  BOOST_CHECK_THROW(img2img_steps(20, 1.5), error);
}

BOOST_AUTO_TEST_CASE(model_calls_and_noise_draws_as_a1111) {
  auto run = [](const std::string& name, scheduler_kind kind, int steps, double eta = 1.0) {
    const auto* info = find_sampler(name);
    sigma_options o;
    o.discard_next_to_last_sigma = info->discard_next_to_last_sigma;
    auto sigmas = make_sigmas(sd1(), kind, steps, o);
    fake_model fm;
    sampler_params p;
    p.eta = eta;
    sample(*info, fm.m, ref().x0.clone(), sd1(), sigmas, p);
    return std::make_pair(fm.calls, fm.draws);
  };
  // Heun: two calls per step except the last; the churn noise is drawn on every step.
  BOOST_CHECK(run("Heun", scheduler_kind::karras, 20) == std::make_pair(39, 20));
  BOOST_CHECK(run("Euler", scheduler_kind::karras, 20) == std::make_pair(20, 20));
  // Euler a adds no noise on the last step (sigma_next = 0).
  BOOST_CHECK(run("Euler a", scheduler_kind::automatic, 20) == std::make_pair(20, 19));
  BOOST_CHECK(run("DPM++ 2M", scheduler_kind::karras, 20) == std::make_pair(20, 0));
  BOOST_CHECK(run("DPM2", scheduler_kind::karras, 20) == std::make_pair(39, 20));
  BOOST_CHECK(run("DPM++ SDE", scheduler_kind::karras, 10) == std::make_pair(19, 18));
  // DDIM draws (and scales by σ_t = 0) on every step even at eta 0; 20 steps give 19 model calls.
  BOOST_CHECK(run("DDIM", scheduler_kind::automatic, 20, 0.0) == std::make_pair(19, 19));
  BOOST_CHECK(run("PLMS", scheduler_kind::automatic, 20, 0.0) == std::make_pair(20, 0));
  BOOST_CHECK(run("UniPC", scheduler_kind::automatic, 20, 0.0) == std::make_pair(20, 0));
  // 1000 // 30 = 33 gives 31 timesteps, and UniPC runs that many steps.
  BOOST_CHECK(run("UniPC", scheduler_kind::automatic, 30, 0.0) == std::make_pair(31, 0));
}

BOOST_AUTO_TEST_CASE(ddim_timesteps_as_a1111) {
  auto t20 = ddim_timesteps(20);
  BOOST_CHECK_EQUAL(t20.size(0), 20);
  BOOST_CHECK_EQUAL(t20[0].item<int64_t>(), 1);
  BOOST_CHECK_EQUAL(t20[19].item<int64_t>(), 951);
  auto t30 = ddim_timesteps(30);
  BOOST_CHECK_EQUAL(t30.size(0), 31);
  BOOST_CHECK_EQUAL(t30[30].item<int64_t>(), 991);
  BOOST_CHECK_EQUAL(ddim_timesteps(1000)[999].item<int64_t>(), 999);
  BOOST_CHECK_THROW(ddim_timesteps(0), error);
}

BOOST_AUTO_TEST_CASE(unipc_order_above_steps_is_a_bad_request) {
  fake_model fm;
  try {
    sample(*find_sampler("UniPC"), fm.m, ref().x0.clone(), sd1(), make_sigmas(sd1(), scheduler_kind::automatic, 2), {});
    BOOST_FAIL("UniPC ran with 2 steps and order 3");
  } catch (const error& e) {
    BOOST_CHECK(e.code() == errc::bad_request);
    BOOST_CHECK_EQUAL(e.where(), "steps");
  }
}

BOOST_AUTO_TEST_CASE(cancellation_from_on_step_propagates) {
  fake_model fm;
  fm.m.on_step = [](int step, int) {
    if (step == 2) throw error(errc::cancelled, "", "interrupted");
  };
  try {
    sample(*find_sampler("Euler"), fm.m, ref().x0.clone(), sd1(), make_sigmas(sd1(), scheduler_kind::karras, 10), {});
    BOOST_FAIL("not cancelled");
  } catch (const error& e) {
    BOOST_CHECK(e.code() == errc::cancelled);
  }
  BOOST_CHECK_EQUAL(fm.calls, 3);
}
