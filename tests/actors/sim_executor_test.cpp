#define BOOST_TEST_MODULE sim_executor
#include <boost/test/unit_test.hpp>

// The simulated executor behind the real scheduler and encoder: jobs come back with the
// requested images (decoded from the real encoder's PNGs), take the cost model's time, and
// stop at the next step when cancelled.

#include "runtime/base/encoding.hpp"
#include "tests/support/typed_job.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/base/png_codec.hpp"
#include "tests/support/sim_cluster.hpp"

#include <chrono>
#include <thread>

using namespace sdw;

BOOST_AUTO_TEST_CASE(a_simulated_job_returns_the_requested_images) {
  sim_device device;
  device.time_scale = 0.01;
  test::sim_cluster f({device.costs.speed}, device.time_scale, scheduler_limits{8, 4});
  const std::string body =
    R"({"input":{"prompt":"sim","steps":20,"width":128,"height":64,"batch_size":2,"n_iter":2,"seed":40}})";
  BOOST_TEST(f.ask(submit_atom::value, test::typed_job("j1", body)).status == job_status::in_queue);
  const job_result r = f.ask(wait_atom::value, std::string("j1"));
  BOOST_TEST_REQUIRE(r.status == job_status::completed, r.error.message);
  const json_value out = parse_json(r.output_json);
  const auto& images = out.find("images")->as_array();
  BOOST_TEST_REQUIRE(images.size() == 4u);
  std::vector<uint8_t> first_pixels;
  for (size_t k = 0; k < images.size(); ++k) {
    const decoded_png png = decode_png(base64_decode(images[k].as_string()));
    BOOST_TEST(png.width == 128);
    BOOST_TEST(png.height == 64);
    BOOST_TEST(png.text.at("parameters").find("Seed: " + std::to_string(40 + k)) != std::string::npos);
    if (k == 0) {
      first_pixels = png.pixels;
    } else {
      BOOST_TEST((png.pixels != first_pixels));  // each seed its own colour
    }
  }
  // The job was given the cost model's time, scaled: 2 batches of 20 steps of 2 images (its engine
  // time is that simulated time, plus the real encoder's PNG time).
  const double expected_ms = job_ms(device.costs, job_shape{128, 64, 20, 2, 2}) * device.time_scale;
  BOOST_TEST(static_cast<double>(r.engine_us) / 1000.0 >= expected_ms * 0.999);
}

BOOST_AUTO_TEST_CASE(cancel_stops_a_simulated_job_at_the_next_step) {
  sim_device device;  // real time: this job would take about 25 s
  test::sim_cluster f({device.costs.speed}, device.time_scale, scheduler_limits{8, 4});
  const std::string body = R"({"input":{"prompt":"long","steps":150,"width":1024,"height":1024}})";
  f.ask(submit_atom::value, test::typed_job("long", body));
  while (f.ask(status_atom::value, std::string("long")).status == job_status::in_queue) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  f.ask(cancel_atom::value, std::string("long"));
  const job_result r = f.ask(wait_atom::value, std::string("long"));
  BOOST_TEST(r.status == job_status::cancelled, to_string(r.error.kind) + std::string(" ") + r.error.message);
  // The executor stopped sampling: it ran a small part of the job's simulated work (the cost
  // model's time of the steps it ran, not the test's own clock).
  const double full_ms = job_ms(device.costs, job_shape{1024, 1024, 150, 1, 1}) * device.time_scale;
  BOOST_TEST(static_cast<double>(r.engine_us) / 1000.0 < 0.25 * full_ms, r.engine_us / 1000 << " ms of " << full_ms);
}
