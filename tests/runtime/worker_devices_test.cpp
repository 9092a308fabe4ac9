#define BOOST_TEST_MODULE worker_devices
#include <boost/test/unit_test.hpp>

// The configuration of executors: model.devices turned into device names, simulated devices'
// speeds and time scale, queue.max-batch; bad values name their key.

#include "runtime/base/errors.hpp"
#include "runtime/config/executor_devices.hpp"

#include <string>
#include <vector>

using namespace sdw;

namespace {

/// The `where` of the error `f` throws, or "" when it throws none.
template <class F>
std::string failing_key(F&& f) {
  try {
    f();
  } catch (const error& e) {
    return e.where();
  }
  return "";
}

} // namespace

BOOST_AUTO_TEST_CASE(devices_list_names_one_executor_each) {
  worker_config c;
  c.device = "cpu";
  BOOST_TEST(executor_devices(c, 0) == std::vector<std::string>{"cpu"});  // empty: model.device alone
  c.devices = "0,1, 3";
  BOOST_TEST(executor_devices(c, 0) == (std::vector<std::string>{"cuda:0", "cuda:1", "cuda:3"}));
  c.devices = "cpu";
  BOOST_TEST(executor_devices(c, 0) == std::vector<std::string>{"cpu"});
  c.devices = "auto";
  BOOST_TEST(executor_devices(c, 0) == std::vector<std::string>{"cpu"});
  BOOST_TEST(executor_devices(c, 2) == (std::vector<std::string>{"cuda:0", "cuda:1"}));
  for (const std::string bad : {"0,0", "gpu", "0,,1", "1,x"}) {
    c.devices = bad;
    BOOST_TEST(failing_key([&] { executor_devices(c, 0); }) == "model.devices", bad);
    BOOST_TEST(failing_key([&] { validate(c); }) == "model.devices", bad);
  }
}

BOOST_AUTO_TEST_CASE(simulated_speeds_cycle_and_bad_values_name_their_key) {
  worker_config c;
  c.simulate = 5;
  BOOST_TEST(simulate_speeds(c) == (std::vector<double>{1, 1, 1, 1, 1}));
  c.simulate_speeds = "1, 2.5";
  BOOST_TEST(simulate_speeds(c) == (std::vector<double>{1, 2.5, 1, 2.5, 1}));
  set_config_value(c, "model.simulate-time-scale", "0.01", "test");
  BOOST_TEST(simulate_time_scale(c) == 0.01);
  c.simulate_speeds = "1,0";
  BOOST_TEST(failing_key([&] { validate(c); }) == "model.simulate-speeds");
  c.simulate_speeds = "";
  c.simulate_time_scale = "fast";
  BOOST_TEST(failing_key([&] { validate(c); }) == "model.simulate-time-scale");
  c.simulate_time_scale = "1";
  set_config_value(c, "queue.max-batch", "0", "test");
  BOOST_TEST(failing_key([&] { validate(c); }) == "queue.max-batch");
  c.max_batch = 4;
  BOOST_TEST(failing_key([&] { validate(c); }) == "");
}
