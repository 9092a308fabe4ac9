#include "app/api_command.hpp"

#include "actors/http_front.hpp"
#include "actors/worker.hpp"
#include "runtime/formats/a1111_info_api.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/engine/clip_tokenizer.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <spdlog/spdlog.h>

#include <exception>

namespace sdw {

int run_api(const worker_config& config) {
  std::string vocab;
  std::vector<api_credential> users;
  try {
    vocab = find_clip_vocab(config.clip_vocab, config.model_dir);
    if (!config.api_auth.empty()) {
      users = parse_api_auth(config.api_auth);
    }
  } catch (const error& e) {
    spdlog::error("{}", e.what());
    return 2;
  }

  if (!open_stop_channel()) {
    return 1;
  }

  caf::actor_system_config cfg;
  prepare_system_config(cfg, !config.remote_executors.empty());
  caf::actor_system system{cfg};
  const worker_actors actors = start_worker(system, worker_setup_from(config, vocab));

  int code = 0;
  {
    front_door_config door;
    door.host = config.host;
    door.port = config.port;
    door.queue_capacity = static_cast<size_t>(config.queue_size);
    door.auth = users;
    door.api_key = config.http_api_key;
    door.health_open = config.health_access == "open";
    door.model_dirs = {config.model_dir};
    door.max_body_bytes = static_cast<size_t>(config.max_body_mb) << 20;
    door.max_megapixel_steps = static_cast<double>(config.max_megapixel_steps);
    http_front front(system, actors.scheduler, actors.health, std::move(door));
    try {
      front.open();
      const bool guarded = !users.empty() || !config.http_api_key.empty();
      spdlog::info("listening on http://{}:{} (A1111 /sdapi/v1, RunPod /run, /runsync, /status, /stream, /cancel, "
                   "/retry, /purge-queue, /health, also under /v2/<endpoint>/){}",
                   config.host, config.port,
                   !guarded ? "" : config.health_access == "open" ? ", credentials asked on every route but /health"
                                                                   : ", credentials asked on every route");
      const int sig = wait_stop_event();
      spdlog::info("signal {}: shutting down", sig);
    } catch (const std::exception& e) {
      spdlog::error("cannot serve on {}:{}: {}", config.host, config.port, e.what());
      code = 1;
    }
    front.close();
  }
  stop_worker(actors);
  spdlog::info("stopped");
  leave_process(code);
}

} // namespace sdw
