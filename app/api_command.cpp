#include "app/api_command.hpp"

#include "actors/http_front.hpp"
#include "actors/worker.hpp"
#include "app/command_start.hpp"
#include "runtime/formats/a1111_info_api.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/engine/cuda_devices.hpp"
#include "runtime/engine/make_model.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <filesystem>

namespace sdw {
namespace {

std::string absolute_path(const std::string& path) {
  std::error_code ec;
  const auto p = std::filesystem::absolute(path, ec);
  return ec ? path : p.lexically_normal().string();
}

/// What /sdapi/v1/cmd-flags says about this worker.
a1111_flag_inputs flag_inputs(const worker_config& config, const std::vector<api_credential>& users,
                              const std::string& styles_file) {
  a1111_flag_inputs in;
  std::error_code ec;
  in.data_dir = std::filesystem::current_path(ec).string();
  in.models_dir = absolute_path(config.model_dir);
  in.checkpoint = config.checkpoint.empty() ? "" : absolute_path(config.checkpoint);
  in.styles_file = styles_file;
  in.host = config.host;
  in.port = config.port;
  for (const auto& u : users) {
    in.api_auth_users.push_back(u.user);
  }
  // The model runs in 16-bit floats on CUDA unless told otherwise (model.dtype).
  const bool cuda = config.device.rfind("cuda", 0) == 0 || (config.device == "auto" && cuda_device_count() > 0);
  in.half = config.dtype == "f16" || config.dtype == "bf16" || (config.dtype == "auto" && cuda);
  if (config.device.rfind("cuda:", 0) == 0) {
    in.device_id = config.device.substr(5);
  }
  in.log_level = config.log_level;
  return in;
}

/// A clean stop: no new work; the requests in flight get their answers within `seconds` (then the
/// running jobs are interrupted and the queued ones cancelled, which answers their requests); any
/// request still open after that, or after a second signal, is answered 503.
void drain(http_front& front, int sig, int seconds) {
  front.refuse_new_work();
  spdlog::info("signal {}: answering the {} request(s) in flight within {} s, then stopping", sig, front.unanswered(),
               seconds);
  const auto wait_for_answers = [&front](std::chrono::steady_clock::time_point until) {
    while (front.unanswered() > 0) {
      const int event = wait_stop_event_until(std::min(until, std::chrono::steady_clock::now() + std::chrono::milliseconds(50)));
      if (event != stop_timed_out) {
        spdlog::warn("signal {} again: the requests still open are answered 503 now", event);
        return false;
      }
      if (std::chrono::steady_clock::now() >= until) {
        break;
      }
    }
    return true;
  };
  if (wait_for_answers(std::chrono::steady_clock::now() + std::chrono::seconds(seconds)) && front.unanswered() > 0) {
    spdlog::warn("the drain took its {} s: interrupting the running jobs, cancelling the queued ones", seconds);
    front.end_jobs();
    // An interrupted job answers at its next sampler step.
    wait_for_answers(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  }
  if (front.unanswered() > 0) {
    spdlog::warn("{} request(s) answered 503 as the worker stops", front.unanswered());
  }
  front.answer_unanswered();
}

} // namespace

front_door_config front_door_from(const worker_config& config, const std::vector<api_credential>& users) {
  front_door_config door;
  door.host = config.host;
  door.port = config.port;
  door.queue_capacity = static_cast<size_t>(config.queue_size);
  door.auth = users;
  door.api_key = config.http_api_key;
  door.health_open = config.health_access == "open";
  door.models_root = config.model_dir;
  door.lora_dir = lora_folder(config);
  door.startup_checkpoint = startup_checkpoint(config);
  door.max_body_bytes = static_cast<size_t>(config.max_body_mb) << 20;
  door.max_megapixel_steps = static_cast<double>(config.max_megapixel_steps);
  door.styles_file = absolute_path(config.styles_file);
  door.flags = flag_inputs(config, users, door.styles_file);
  return door;
}

int run_api(const worker_config& config) {
  std::vector<api_credential> users;
  try {
    if (!config.api_auth.empty()) {
      users = parse_api_auth(config.api_auth);
    }
  } catch (const error& e) {
    spdlog::error("{}", e.what());
    return 2;
  }
  const command_start start = start_command(config);
  if (start.exit_code != 0) {
    return start.exit_code;
  }

  caf::actor_system_config cfg;
  prepare_system_config(cfg, !config.remote_executors.empty());
  caf::actor_system system{cfg};
  const worker_actors actors = start_worker(system, worker_setup_from(config, start.vocab));

  int code = 0;
  {
    front_door_config door = front_door_from(config, users);
    door.embeddings = actors.embeddings;
    http_front front(system, actors.scheduler, actors.health, door);
    try {
      front.open();
      const bool guarded = !users.empty() || !config.http_api_key.empty();
      spdlog::info("listening on http://{}:{} (A1111 /sdapi/v1, RunPod /run, /runsync, /status, /stream, /cancel, "
                   "/retry, /purge-queue, /health, also under /v2/<endpoint>/){}",
                   config.host, config.port,
                   !guarded ? "" : config.health_access == "open" ? ", credentials asked on every route but /health"
                                                                   : ", credentials asked on every route");
      const int sig = wait_stop_event();
      drain(front, sig, config.drain_seconds);
    } catch (const std::exception& e) {
      spdlog::error("cannot serve on {}:{}: {}", config.host, config.port, e.what());
      code = 1;
    }
    front.close();
  }
  stop_worker(actors);
  spdlog::info("stopped");
  return finish_actors(system, code);
}

} // namespace sdw
