#include "app/serve_command.hpp"

#include "actors/delivery.hpp"
#include "actors/options_keeper.hpp"
#include "app/api_command.hpp"
#include "app/command_start.hpp"
#include "actors/heartbeat.hpp"
#include "actors/http_front.hpp"
#include "actors/runpod_poller.hpp"
#include "actors/worker.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/runpod/runpod_api.hpp"
#include "runtime/runpod/runpod_log.hpp"
#include "runtime/runpod/runpod_worker.hpp"
#include "runtime/storage/s3_storage.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <future>
#include <chrono>
#include <memory>
#include <optional>
#include <sstream>

namespace sdw {
namespace {

/// Reads the one-shot job: `--test-input` (a file, or the JSON itself as the SDK's --test_input
/// takes it), else ./test_input.json. Empty when there is none.
std::optional<std::string> read_test_input(const std::string& flag) {
  const size_t first = flag.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && flag[first] == '{') {
    return flag;
  }
  const std::string path = flag.empty() ? "test_input.json" : flag;
  if (!std::filesystem::exists(path)) {
    if (!flag.empty()) {
      spdlog::error("--test-input: {} not found", flag);
    }
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// Runs one job through the scheduler and prints `{"output": ...}` or `{"error": ...}`.
int run_local_test(caf::actor_system& system, const worker_actors& actors, front_context& a1111,
                   const std::string& text, double max_megapixel_steps) {
  runpod_job job;
  generation_job typed;
  std::optional<a1111_call> other_call;
  try {
    job = local_test_job(text);
    const a1111_call call = job_call(job.body);
    if (is_generation_call(call)) {
      typed = generation_job{job.id, generation_request_from_call(call), {}, job_options{false}, std::nullopt};
      check_request_work(typed.request, max_megapixel_steps);
    } else {
      other_call = call;
    }
  } catch (const error& e) {
    const std::string body = done_error_body(runpod_error_text(e.code(), e.where(), e.message()), false);
    log_job(log_level::error, "local_test", "Job local_test failed with error: " + std::string(e.what()));
    std::cout << body << std::endl;
    return 1;
  }
  log_job(log_level::info, job.id, "Started.");
  caf::scoped_actor self{system};
  job_result result;
  bool queued = false;
  if (other_call) {
    std::promise<job_result> answer;
    run_a1111_call_job(a1111, job.id, *other_call, [&answer](job_result r) { answer.set_value(std::move(r)); });
    result = answer.get_future().get();
  } else {
    // The options and model files the job runs with, as the front door resolves them.
    self->request(a1111.options, caf::infinite, resolve_atom::value, std::move(typed))
      .receive([&](generation_job& ready) { typed = std::move(ready); },
               [&](caf::error& err) { typed.rejected = job_error{errc::internal, "", system.render(err)}; });
    self->request(actors.scheduler, caf::infinite, submit_atom::value, std::move(typed))
    .receive([&](job_result&) { queued = true; },
             [&](caf::error& err) { result = failed_job(job.id, {errc::internal, "", system.render(err)}); });
  if (queued) {
    self->request(actors.scheduler, caf::infinite, wait_atom::value, job.id)
      .receive([&](job_result& r) { result = std::move(r); },
               [&](caf::error& err) { result = failed_job(job.id, {errc::internal, "", system.render(err)}); });
    }
  }
  if (result.status == job_status::completed && !result.output_json.empty()) {
    log_job(log_level::info, job.id, "Job " + job.id + " completed successfully.");
    std::cout << done_output_body(result.output_json) << std::endl;
    return 0;
  }
  const job_error& e = result.error;
  if (e.verbatim) {
    // An A1111 answer with `error`, as worker-a1111's handler returns it.
    log_job(log_level::error, job.id, "Job " + job.id + " failed with error: " + e.message);
    std::cout << (result.output_json.empty() ? done_error_body(e.message, false)
                                             : done_failed_body(result.output_json, e.message))
              << std::endl;
    return 1;
  }
  log_job(log_level::error, job.id,
          "Job " + job.id + " failed with error: " + (e.field.empty() ? e.message : e.field + ": " + e.message));
  std::cout << done_error_body(runpod_error_text(e.kind, e.field, e.message), false)
            << std::endl;
  return 1;
}

} // namespace

int run_serve(const worker_config& config, const std::string& test_input_arg) {
  runpod_settings runpod = runpod_settings_from(config);
  std::optional<std::string> test_input;
  const bool local = !runpod.on_runpod() || !test_input_arg.empty();
  if (local) {
    test_input = read_test_input(test_input_arg);
    if (!test_input) {
      spdlog::error("test_input.json not found, exiting.");
      return 1;
    }
  }
  // Simulated executors have no text encoder, so they need no tokenizer file.
  const bool simulated = config.simulate != 0;
  const command_start start = start_command(config, start_checks{!simulated, !simulated});
  if (start.exit_code != 0) {
    return start.exit_code;
  }

  spdlog::info("--- Starting Serverless Worker |  Version {} ---", runpod_worker_version);
  caf::actor_system_config cfg;
  prepare_system_config(cfg, !config.remote_executors.empty());
  add_runpod_message_types(cfg);
  caf::actor_system system{cfg};
  const worker_actors actors = start_worker(system, worker_setup_from(config, start.vocab));
  // The A1111 calls jobs name run as the front door of `sdworker api` runs them.
  const front_door_config door = front_door_from(config, {});
  auto options_hdl = spawn_options_keeper(system, door);
  auto a1111 = std::make_shared<front_context>(system, actors.scheduler, actors.health, options_hdl, door);
  a1111->config.embeddings = actors.embeddings;

  if (local) {
    const int code = run_local_test(system, actors, *a1111, *test_input, runpod.max_megapixel_steps);
    caf::anon_send_exit(options_hdl, caf::exit_reason::user_shutdown);
    stop_worker(actors);
    return finish_actors(system, code);
  }

  // One job per device by default, as many as configured otherwise (more lets batches form).
  runpod.concurrency = config.concurrency > 0 ? config.concurrency : static_cast<int>(actors.executors.size());
  spdlog::info("worker {}: {} jobs at once, job-take {}, job-done {}", runpod.worker_id, runpod.concurrency,
               url_for_log(job_take_url(runpod, false)), url_for_log(job_done_url(runpod, "$ID")));
  auto heartbeat_hdl = system.spawn(heartbeat, runpod);
  delivery_config delivery_settings{runpod.api_key, runpod.max_result_bytes,
                                    s3_storage{config.bucket_endpoint_url, config.bucket_access_key_id,
                                               config.bucket_secret_access_key, config.bucket, config.bucket_region}};
  if (delivery_settings.storage.configured()) {
    // Without runpod.bucket, each upload's month names the bucket ("MM-YY", as RunPod's helper names it).
    spdlog::info("results over {} MB: their images go to {} (region {})", config.max_result_mb,
                 s3_storage_name(delivery_settings.storage, config.bucket.empty() ? "MM-YY" : config.bucket),
                 s3_region(delivery_settings.storage));
  }
  const std::shared_ptr<const delivery_counters> delivered = delivery_settings.counters;
  auto delivery_hdl = system.spawn(delivery, std::move(delivery_settings));
  // The local API beside the RunPod loop, as worker-a1111's image runs A1111's API on
  // localhost: its /metrics adds the deliveries; it shares the options RunPod jobs see.
  std::unique_ptr<http_front> local_api;
  if (config.serve_api_port > 0) {
    front_door_config api_door = door;
    api_door.port = config.serve_api_port;
    api_door.embeddings = actors.embeddings;
    api_door.delivery = delivered;
    local_api = std::make_unique<http_front>(system, actors.scheduler, actors.health, api_door, options_hdl);
    try {
      local_api->open();
      spdlog::info("local API on http://{}:{} (A1111 /sdapi/v1, /health, /metrics)", config.host, config.serve_api_port);
    } catch (const std::exception& e) {
      spdlog::error("cannot serve the local API on {}:{}: {}", config.host, config.serve_api_port, e.what());
      local_api.reset();
    }
  }
  auto poller_hdl = system.spawn(runpod_poller, poller_config{runpod, actors.scheduler, actors.health, delivery_hdl,
                                                              heartbeat_hdl, a1111, [](int code) { notify_done(code); }});
  // A signal stops the taking of jobs; those in flight have queue.drain-seconds to finish. When
  // that passes, or a second signal comes, they end with an error result, which is still
  // delivered; a third signal leaves without waiting for deliveries.
  int code = 0;
  int signals = 0;
  std::optional<std::chrono::steady_clock::time_point> drain_ends;
  for (;;) {
    const int event = drain_ends ? wait_stop_event_until(*drain_ends) : wait_stop_event();
    if (event >= stop_done) {
      code = event - stop_done;
      break;
    }
    if (event == stop_timed_out) {
      spdlog::warn("the drain took its {} s: the jobs still running end now", config.drain_seconds);
      caf::anon_send(poller_hdl, stop_atom::value);
      drain_ends.reset();
      continue;
    }
    ++signals;
    if (signals == 1) {
      spdlog::info("signal {}: finishing the jobs in flight within {} s, then stopping", event, config.drain_seconds);
      if (local_api) local_api->refuse_new_work();
      drain_ends = std::chrono::steady_clock::now() + std::chrono::seconds(config.drain_seconds);
    } else if (signals == 2) {
      spdlog::warn("signal {} again: the jobs still running end now", event);
      drain_ends.reset();
    } else {
      spdlog::error("signal {} a third time: leaving without waiting for the results' delivery", event);
      code = 1;
      break;
    }
    caf::anon_send(poller_hdl, stop_atom::value);
  }
  if (local_api) {
    // Its requests in flight were served while the RunPod jobs drained; any left get 503.
    local_api->refuse_new_work();
    local_api->answer_unanswered();
    local_api->close();
  }
  caf::anon_send_exit(poller_hdl, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(heartbeat_hdl, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(delivery_hdl, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(options_hdl, caf::exit_reason::user_shutdown);
  stop_worker(actors);
  spdlog::info("stopped (exit code {})", code);
  return finish_actors(system, code);
}

} // namespace sdw
