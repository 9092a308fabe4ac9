#define BOOST_TEST_MODULE scheduler_before_ready
#include <boost/test/unit_test.hpp>

// The real actors in one process, with the loader started only after jobs were submitted: jobs
// that arrive while the model is not loaded wait in the scheduler (IN_QUEUE, in order) and
// complete once it is; the front door, the cancel route and health answer meanwhile.

#include "actors/encoder.hpp"
#include "tests/support/typed_job.hpp"
#include "actors/executor.hpp"
#include "actors/health.hpp"
#include "actors/loader.hpp"
#include "actors/scheduler.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/base/png_codec.hpp"
#include "runtime/base/encoding.hpp"
#include "tests/support/tiny_model.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <string>
#include <vector>

using namespace sdw;

namespace {

constexpr auto timeout = std::chrono::seconds(120);

template <class... Ts>
job_result request(caf::scoped_actor& self, const scheduler_actor& s, Ts&&... xs) {
  job_result out;
  self->request(s, timeout, std::forward<Ts>(xs)...)
    .receive([&](job_result& r) { out = std::move(r); },
             [&](caf::error& e) { BOOST_FAIL("scheduler: " + self->system().render(e)); });
  return out;
}

health_report report(caf::scoped_actor& self, const health_actor& h) {
  health_report out;
  self->request(h, timeout, report_atom::value)
    .receive([&](health_report& r) { out = std::move(r); },
             [&](caf::error& e) { BOOST_FAIL("health: " + self->system().render(e)); });
  return out;
}

std::string job_body(int seed) {
  return R"({"input":{"prompt":"a red cube","steps":2,"width":64,"height":64,"seed":)" + std::to_string(seed) +
         "}}";
}

} // namespace

BOOST_AUTO_TEST_CASE(jobs_sent_before_the_model_is_ready_complete_after_it) {
  test::temp_dir dir;
  const std::string model = test::tiny_model(dir);

  caf::actor_system_config cfg;
  add_message_types(cfg);
  caf::actor_system system{cfg};
  caf::scoped_actor self{system};

  auto health_hdl = system.spawn(health);
  auto encoder_hdl = system.spawn(encoder);
  auto executor_hdl = system.spawn<caf::detached>(executor, health_hdl, 4);
  auto scheduler_hdl = system.spawn(scheduler, executor_hdl, encoder_hdl, health_hdl, size_t{4});

  // No loader yet: three jobs are accepted and wait, in order, and one of them is cancelled.
  std::vector<std::string> ids = {"early-1", "early-2", "early-3"};
  for (size_t i = 0; i < ids.size(); ++i) {
    const job_result r = request(self, scheduler_hdl, submit_atom::value,
                                 test::typed_job(ids[i], job_body(static_cast<int>(i) + 1)));
    BOOST_TEST(r.status == job_status::in_queue);
  }
  BOOST_TEST(request(self, scheduler_hdl, cancel_atom::value, std::string("early-2")).status ==
             job_status::cancelled);
  const health_report before = report(self, health_hdl);
  BOOST_TEST(before.queue.in_queue == 2);
  BOOST_TEST(before.queue.in_progress == 0);
  BOOST_TEST(before.model.state == model_state::loading);

  // The queue is bounded even while the model loads.
  for (int i = 0; i < 2; ++i) {
    request(self, scheduler_hdl, submit_atom::value,
            test::typed_job("fill-" + std::to_string(i), job_body(10 + i)));
  }
  caf::error full;
  self->request(scheduler_hdl, timeout, submit_atom::value, test::typed_job("one-too-many", job_body(99)))
    .receive([](job_result&) {}, [&](caf::error& e) { full = e; });
  BOOST_TEST(is(full, sd_errc::queue_full));

  self->spawn(loader, loader_config{model, dir.path, test::clip_vocab(), "cpu", "auto"}, executor_hdl, scheduler_hdl,
              health_hdl);

  int64_t last_delay = -1;
  for (const std::string id : {"early-1", "early-3", "fill-0", "fill-1"}) {
    const job_result r = request(self, scheduler_hdl, wait_atom::value, id);
    BOOST_TEST_CONTEXT(id) {
      BOOST_TEST(r.status == job_status::completed, r.error.message);
      const json_value out = parse_json(r.output_json);
      const json_value* images = out.find("images");
      BOOST_TEST_REQUIRE(images != nullptr);
      const decoded_png img = decode_png(base64_decode(images->as_array().at(0).as_string()));
      BOOST_TEST(img.width == 64);
      BOOST_TEST(img.height == 64);
      // The four compatible jobs that waited for the model ran as one batch, in one start.
      BOOST_TEST(r.batch_jobs == 4);
      BOOST_TEST(r.device == "executor");
      if (last_delay >= 0) {
        BOOST_TEST(r.delay_ms <= last_delay);  // submitted later, started at the same time
      }
      last_delay = r.delay_ms;
    }
  }
  BOOST_TEST(request(self, scheduler_hdl, status_atom::value, std::string("early-2")).status == job_status::cancelled);
  const health_report after = report(self, health_hdl);
  BOOST_TEST(after.model.state == model_state::ready);
  BOOST_TEST(after.queue.completed == 4);
  BOOST_TEST(after.queue.cancelled == 1);

  self->send_exit(scheduler_hdl, caf::exit_reason::user_shutdown);
  self->send_exit(encoder_hdl, caf::exit_reason::user_shutdown);
  self->send_exit(executor_hdl, caf::exit_reason::user_shutdown);
  self->send_exit(health_hdl, caf::exit_reason::user_shutdown);
}
