#include "runtime/sim/sim_session.hpp"

#include "runtime/sim/sim_server.hpp"
#include "runtime/sim/sim_workers.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/sim/sim_load.hpp"

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace sdw {
namespace {

using clock_type = std::chrono::steady_clock;

std::string self_executable() {
  std::error_code ec;
  const auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) {
    throw std::runtime_error("sim: cannot find the sdworker executable; pass --binary");
  }
  return p.string();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    throw std::runtime_error("sim: cannot read " + path);
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// The id in a /run or /runsync answer, and whether its status is final.
std::pair<std::string, bool> id_and_done(const std::string& body) {
  try {
    const json_value v = parse_json(body);
    const json_value* id = v.find("id");
    const json_value* st = v.find("status");
    const std::string status = st != nullptr && st->is_string() ? st->as_string() : "";
    return {id != nullptr && id->is_string() ? id->as_string() : "",
            status == "COMPLETED" || status == "FAILED" || status == "CANCELLED"};
  } catch (const std::exception&) {
    return {"", false};
  }
}

/// Sends a submission, again every 100 ms while the control plane refuses connections (it is
/// restarting), as a client would, until `deadline`.
sim_http_reply submit_until_answered(int port, const std::string& target, const std::string& body,
                                     clock_type::time_point deadline) {
  for (;;) {
    sim_http_reply reply = sim_http_request(port, "POST", target, body);
    if (reply.status != 0 || clock_type::now() >= deadline) {
      return reply;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

/// Open loop: jobs arrive at Poisson times, each through POST /run.
void open_loop(const sim_args& args, int port, sim_load_generator& load, clock_type::time_point deadline) {
  auto next = clock_type::now();
  for (int i = 0; i < args.jobs; ++i) {
    std::this_thread::sleep_until(next);
    const auto reply = submit_until_answered(port, "/v2/sim/run", "{\"input\":" + load.next_input() + "}", deadline);
    if (reply.status != 200) {
      spdlog::warn("sim: /run answered {}: {}", reply.status, reply.body);
    }
    next += std::chrono::duration_cast<clock_type::duration>(
      std::chrono::duration<double, std::milli>(load.next_gap_ms(args.rate)));
  }
}

/// Closed loop: `clients` clients, each sends a job with /runsync and the next when it ends.
void closed_loop(const sim_args& args, int port, sim_control_plane& plane, sim_load_generator& load,
                 clock_type::time_point deadline) {
  std::atomic<int> left{args.jobs};
  std::mutex load_mutex;
  std::vector<std::thread> clients;
  for (int c = 0; c < std::max(1, args.clients); ++c) {
    clients.emplace_back([&] {
      while (left.fetch_sub(1) > 0) {
        std::string input;
        {
          std::lock_guard<std::mutex> lock(load_mutex);
          input = load.next_input();
        }
        const int wait_ms = static_cast<int>(std::clamp(args.timeout_s * 1000, 1000.0, 300000.0));
        const auto reply = submit_until_answered(port, "/v2/sim/runsync?wait=" + std::to_string(wait_ms),
                                                 "{\"input\":" + input + "}", deadline);
        const auto [id, done] = id_and_done(reply.body);
        const auto left_ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
        if (!id.empty() && !done && left_ms.count() > 0) {
          plane.wait_terminal(id, static_cast<int>(left_ms.count()));
        }
        if (clock_type::now() >= deadline) {
          return;
        }
      }
    });
  }
  for (auto& t : clients) {
    t.join();
  }
}

/// Waits until some worker holds a job, then SIGKILLs it; the job and worker it hit.
std::pair<std::string, std::string> kill_one_mid_job(sim_control_plane& plane, sim_workers& workers,
                                                     clock_type::time_point deadline) {
  while (clock_type::now() < deadline) {
    for (const auto& r : plane.records()) {
      if (r.status == "IN_PROGRESS" && workers.kill(r.worker)) {
        spdlog::info("sim: killed {} while it held job {}", r.worker, r.id);
        return {r.worker, r.id};
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return {"", ""};
}

} // namespace

sim_outcome run_sim_session(const sim_args& args) {
  sim_plane_config pc;
  pc.take_wait_ms = args.take_wait_ms;
  pc.lost_after_ms = args.lost_after_ms > 0 ? args.lost_after_ms : 4 * args.ping_ms;
  pc.faults = args.faults;
  sim_control_plane plane(pc);
  sim_server server(plane, args.port);
  const std::string log_dir = args.out + "-logs";
  std::filesystem::create_directories(log_dir);
  sim_worker_spec spec{args.binary.empty() ? self_executable() : args.binary, log_dir, args.time_scale,
                       {"--max-batch", std::to_string(args.max_batch)}};
  if (args.concurrency > 0) {
    spec.extra.insert(spec.extra.end(), {"--concurrency", std::to_string(args.concurrency)});
  }
  sim_workers workers;
  for (int w = 0; w < args.workers; ++w) {
    const std::string name = "worker-" + std::to_string(w + 1);
    workers.start(spec, name, server.worker_env(name, args.ping_ms));
  }
  spdlog::info("sim: emulator on {}, {} workers, {} jobs", server.base(), args.workers, args.jobs);
  sim_load_generator load(args.mix_file.empty() ? default_request_mix() : parse_request_mix(read_file(args.mix_file)),
                          args.seed);
  // Latency figures should not include process start-up: the load begins once every worker pings.
  const auto ready_by = clock_type::now() + std::chrono::seconds(30);
  while (plane.live_workers() < args.workers && clock_type::now() < ready_by) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const auto start = clock_type::now();
  const auto deadline = start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(args.timeout_s));
  sim_outcome outcome;
  std::thread killer;
  if (args.kill_after_s >= 0) {
    killer = std::thread([&] {
      std::this_thread::sleep_until(start + std::chrono::duration_cast<clock_type::duration>(
                                              std::chrono::duration<double>(args.kill_after_s)));
      const auto [worker, job] = kill_one_mid_job(plane, workers, deadline);
      outcome.killed = !worker.empty();
      outcome.killed_worker = worker;
      outcome.killed_job = job;
    });
  }
  // Control-plane restarts: the listener goes away for a while, every so often, until the end.
  std::atomic<bool> finished{false};
  std::thread restarter;
  int restarts = 0;
  if (args.restart_every_s > 0) {
    restarter = std::thread([&] {
      const auto every = std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(args.restart_every_s));
      for (auto next = start + every; !finished; next += every) {
        while (!finished && clock_type::now() < next) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        if (finished) {
          break;
        }
        spdlog::info("sim: the control plane restarts ({} ms without a listener)", args.restart_down_ms);
        server.restart(std::chrono::milliseconds(args.restart_down_ms));
        ++restarts;
      }
    });
  }
  if (args.rate > 0) {
    open_loop(args, server.port(), load, deadline);
  } else {
    closed_loop(args, server.port(), plane, load, deadline);
  }
  while (plane.unfinished() > 0 && clock_type::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    plane.sweep();
  }
  if (killer.joinable()) {
    killer.join();
  }
  finished = true;
  if (restarter.joinable()) {
    restarter.join();
  }
  outcome.report = make_sim_report(plane.records(), plane.counters(), workers.names());
  std::ostringstream settings;
  settings << args.workers << " workers (concurrency " << (args.concurrency > 0 ? args.concurrency : 1)
           << ", max batch " << args.max_batch << "), " << args.jobs << " jobs, "
           << (args.rate > 0 ? "Poisson " + std::to_string(args.rate) + "/s" : std::to_string(args.clients) + " closed-loop clients")
           << ", time scale " << args.time_scale << ", seed " << args.seed << ", faults: take 5xx " << args.faults.take_5xx
           << ", done 5xx " << args.faults.done_5xx << ", slow " << args.faults.slow << ", drop " << args.faults.drop
           << ", reset " << args.faults.reset << ", duplicate " << args.faults.duplicate << ", done 4xx "
           << args.faults.done_4xx << ", control-plane restarts " << restarts
           << (outcome.killed ? ", killed " + outcome.killed_worker + " holding " + outcome.killed_job : "");
  outcome.report.settings = settings.str();
  return outcome;
}

int run_sim(const sim_args& args) {
  const sim_outcome outcome = run_sim_session(args);
  const auto& r = outcome.report;
  std::ofstream(args.out + ".json") << sim_report_json(r) << "\n";
  std::ofstream(args.out + ".html") << sim_report_html(r);
  std::printf("%s\n", sim_report_json(r).c_str());
  spdlog::info("sim: {} of {} completed, {} lost, {} duplicated, {:.2f} jobs/s, p50 {:.0f} ms, p99 {:.0f} ms; "
               "report in {}.json and {}.html",
               r.completed, r.jobs, r.lost, r.duplicated, r.throughput_per_s, r.end_to_end.p50, r.end_to_end.p99,
               args.out, args.out);
  const bool ok = r.lost == 0 && (args.faults.duplicate > 0 || r.duplicated == 0);
  return ok ? 0 : 1;
}

} // namespace sdw
