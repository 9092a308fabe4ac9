#include "actors/api_command.hpp"

#include "actors/http_front.hpp"
#include "actors/worker.hpp"
#include "runtime/errors.hpp"
#include "runtime/generate_command.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <spdlog/spdlog.h>

#include <exception>

namespace sdw {

int run_api(const api_args& args) {
  if (args.port <= 0 || args.port > 65535) {
    spdlog::error("--port: must be 1..65535, got {}", args.port);
    return 2;
  }
  if (args.queue_size < 1) {
    spdlog::error("--queue-size: must be at least 1, got {}", args.queue_size);
    return 2;
  }
  std::string vocab;
  try {
    vocab = find_clip_vocab(args.clip_vocab, args.model_dir);
  } catch (const error& e) {
    spdlog::error("{}", e.what());
    return 2;
  }

  if (!open_stop_channel()) {
    spdlog::error("cannot create the shutdown pipe");
    return 1;
  }

  caf::actor_system_config cfg;
  add_message_types(cfg);
  cfg.set("scheduler.max-threads", 2);
  caf::actor_system system{cfg};
  const worker_actors actors = start_worker(
    system, worker_config{args.model, args.model_dir, vocab, args.device, args.dtype, static_cast<size_t>(args.queue_size)});

  int code = 0;
  {
    http_front front(system, actors.scheduler, actors.health,
                     front_door_config{args.host, args.port, static_cast<size_t>(args.queue_size)});
    try {
      front.open();
      spdlog::info("listening on http://{}:{} (A1111 /sdapi/v1, /run, /runsync, /status, /cancel, /health)",
                   args.host, args.port);
      const int sig = wait_stop_event();
      spdlog::info("signal {}: shutting down", sig);
    } catch (const std::exception& e) {
      spdlog::error("cannot serve on {}:{}: {}", args.host, args.port, e.what());
      code = 1;
    }
    front.close();
  }
  stop_worker(actors);
  spdlog::info("stopped");
  leave_process(code);
}

} // namespace sdw
