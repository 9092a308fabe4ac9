// sdw-bench-actors: the cost of the actor path itself. The real actors (health, scheduler,
// executor, encoder, loader) run in this process with the tiny model; each job's time from
// submission to its final answer is compared with the time the engine spent on it (generation
// and encoding, measured inside the executor and the encoder). The difference is what queuing,
// messaging and bookkeeping cost per job. With --remote the same is measured again with the
// executor behind an executor host in a second actor system, reached over loopback TCP through
// CAF's network layer (serialization and the remote executor's bookkeeping included).

#include "actors/encoder.hpp"
#include "tests/support/typed_job.hpp"
#include "actors/executor.hpp"
#include "actors/executor_host.hpp"
#include "actors/health.hpp"
#include "actors/loader.hpp"
#include "actors/remote_executor.hpp"
#include "actors/scheduler.hpp"
#include "actors/worker.hpp"
#include "runtime/engine/clip_tokenizer.hpp"
#include "runtime/engine/make_model.hpp"
#include "runtime/base/memory_tuning.hpp"

#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

using namespace sdw;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr auto timeout = std::chrono::seconds(600);

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  return v[i];
}

} // namespace

int main(int argc, char** argv) {
  keep_freed_memory();
  CLI::App app{"time the actor path (job arrival to result, minus the engine's own time) with the tiny model"};
  int jobs = 200;
  std::string model_dir = "models", clip_vocab, json_out;
  app.add_option("--jobs", jobs, "timed jobs per mode")->capture_default_str();
  app.add_option("--model-dir", model_dir, "where the tiny demo model is kept")->capture_default_str();
  app.add_option("--clip-vocab", clip_vocab, "CLIP bpe_simple_vocab_16e6.txt.gz");
  app.add_option("--json", json_out, "also write the figures as JSON");
  bool remote = false;
  app.add_flag("--remote", remote, "also measure through an executor host on loopback (CAF's network layer)");
  CLI11_PARSE(app, argc, argv);
  at::set_num_threads(1);
  spdlog::set_level(spdlog::level::warn);

  const std::string model = ensure_demo_model(model_dir);
  const std::string vocab = find_clip_vocab(clip_vocab, model_dir);

  struct figures {
    double p50 = 0, p95 = 0, worst = 0, engine_median_ms = 0, burst_ms = 0, burst_engine_ms = 0;
  };
  // The real actors of a worker; with `host_port` > 0 its one device is a remote executor.
  auto measure = [&](caf::actor_system& system, int host_port) {
    caf::scoped_actor self{system};
    auto health_hdl = system.spawn(health);
    auto encoder_hdl = system.spawn(encoder);
    executor_actor executor_hdl;
    scheduler_actor scheduler_hdl;
    if (host_port > 0) {
      auto remote = system.spawn(remote_executor, remote_address{"127.0.0.1", static_cast<uint16_t>(host_port)},
                                 health_hdl, true);
      executor_hdl = remote;
      scheduler_hdl = system.spawn(scheduler, executor_hdl, encoder_hdl, health_hdl, static_cast<size_t>(jobs + 8));
      self->send(remote, ready_atom::value, scheduler_hdl, int32_t{0});
    } else {
      executor_hdl = system.spawn<caf::detached>(executor, health_hdl, 4);
      scheduler_hdl = system.spawn(scheduler, executor_hdl, encoder_hdl, health_hdl, static_cast<size_t>(jobs + 8));
      system.spawn(loader, loader_config{model, model_dir, vocab, "cpu", "auto"}, executor_hdl, scheduler_hdl,
                   health_hdl);
    }

    const std::string body = R"({"input":{"prompt":"a red cube","steps":1,"width":64,"height":64,"seed":1}})";
    int next_id = 0;
    auto submit = [&](std::string& id) {
      id = "bench-" + std::to_string(next_id++);
      self->request(scheduler_hdl, timeout, submit_atom::value, test::typed_job(id, body))
        .receive([](job_result&) {}, [&](caf::error& e) { throw std::runtime_error(system.render(e)); });
    };
    auto wait = [&](const std::string& id) {
      job_result out;
      self->request(scheduler_hdl, timeout, wait_atom::value, id)
        .receive([&](job_result& r) { out = std::move(r); },
                 [&](caf::error& e) { throw std::runtime_error(system.render(e)); });
      if (out.status != job_status::completed) {
        throw std::runtime_error("job " + id + " " + to_string(out.status) + ": " + out.error.message);
      }
      return out;
    };

    // Warm-up: the first jobs wait for the model and fill caches.
    for (int i = 0; i < 5; ++i) {
      std::string id;
      submit(id);
      wait(id);
    }

    // One job at a time: the latency the actor path adds to a job.
    std::vector<double> overhead_us, engine_ms;
    for (int i = 0; i < jobs; ++i) {
      std::string id;
      const auto t0 = clock_type::now();
      submit(id);
      const job_result r = wait(id);
      const double total_us = std::chrono::duration<double, std::micro>(clock_type::now() - t0).count();
      overhead_us.push_back(total_us - static_cast<double>(r.engine_us));
      engine_ms.push_back(static_cast<double>(r.engine_us) / 1000.0);
    }

    // All jobs at once: the queue keeps the executor busy; per-job cost beyond the engine's time
    // (encoding overlaps the next job, and compatible jobs share batches).
    std::vector<std::string> ids(static_cast<size_t>(jobs));
    const auto b0 = clock_type::now();
    for (auto& id : ids) {
      submit(id);
    }
    double executor_us = 0;
    for (const auto& id : ids) {
      const job_result r = wait(id);
      executor_us += static_cast<double>(r.engine_us) / std::max(1, r.batch_jobs);
    }
    figures f;
    f.burst_ms = std::chrono::duration<double, std::milli>(clock_type::now() - b0).count();
    f.burst_engine_ms = executor_us / 1000.0;
    f.p50 = percentile(overhead_us, 0.5);
    f.p95 = percentile(overhead_us, 0.95);
    f.worst = percentile(overhead_us, 1.0);
    f.engine_median_ms = percentile(engine_ms, 0.5);
    for (const caf::actor& a : {caf::actor_cast<caf::actor>(scheduler_hdl), caf::actor_cast<caf::actor>(encoder_hdl),
                                caf::actor_cast<caf::actor>(executor_hdl), caf::actor_cast<caf::actor>(health_hdl)}) {
      self->send_exit(a, caf::exit_reason::user_shutdown);
    }
    return f;
  };
  auto print = [&](const char* what, const figures& f) {
    std::printf("%s, %d jobs of 64x64, 1 step, tiny model (engine median %.2f ms per job)\n", what, jobs,
                f.engine_median_ms);
    std::printf("  one at a time: overhead per job  median %.0f us  p95 %.0f us  max %.0f us\n", f.p50, f.p95, f.worst);
    std::printf("  all at once:   %d jobs in %.1f ms, engine %.1f ms in total; wall per job %.2f ms\n", jobs,
                f.burst_ms, f.burst_engine_ms, f.burst_ms / jobs);
  };
  auto json = [](const figures& f) {
    std::ostringstream o;
    o << "{\"engine_median_ms\":" << f.engine_median_ms << ",\"overhead_us\":{\"median\":" << f.p50
      << ",\"p95\":" << f.p95 << ",\"max\":" << f.worst << "},\"burst\":{\"wall_ms\":" << f.burst_ms
      << ",\"engine_ms\":" << f.burst_engine_ms << "}}";
    return o.str();
  };

  caf::actor_system_config cfg;
  prepare_system_config(cfg, remote);
  caf::actor_system system{cfg};
  const figures local = measure(system, 0);
  print("actor path", local);
  std::string out = "{\"jobs\":" + std::to_string(jobs) + ",\"local\":" + json(local);
  if (remote) {
    // The host side: its own actor system, as `sdworker executor-host` runs it.
    caf::actor_system_config host_cfg;
    prepare_system_config(host_cfg, true);
    caf::actor_system host_system{host_cfg};
    auto host_health = host_system.spawn(health);
    auto host_executor = host_system.spawn<caf::detached>(executor, host_health, 4);
    auto host = host_system.spawn(executor_host, host_executor, host_health);
    host_system.spawn(loader, loader_config{model, model_dir, vocab, "cpu", "auto"}, host_executor, host, host_health);
    auto port = host_system.middleman().publish(host, 0, "127.0.0.1", true);
    if (!port) {
      throw std::runtime_error("cannot publish the executor host: " + host_system.render(port.error()));
    }
    const figures far = measure(system, *port);
    print("through an executor host on loopback", far);
    std::printf("  remote / local overhead per job (median): %.2f\n", far.p50 / local.p50);
    out += ",\"remote\":" + json(far);
    caf::anon_send_exit(host, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(host_executor, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(host_health, caf::exit_reason::user_shutdown);
  }
  if (!json_out.empty()) {
    std::ofstream(json_out) << out << "}\n";
  }
  return finish_actors(system, 0);
}
