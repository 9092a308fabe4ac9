#include "app/executor_host_command.hpp"

#include "actors/executor.hpp"
#include "actors/executor_host.hpp"
#include "actors/health.hpp"
#include "actors/loader.hpp"
#include "actors/worker.hpp"
#include "app/command_start.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/engine/embedding_library.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

namespace sdw {

int run_executor_host(const worker_config& config) {
  // The host loads config.checkpoint itself: only the vocabulary is checked here.
  const command_start start = start_command(config, start_checks{true, false});
  if (start.exit_code != 0) {
    return start.exit_code;
  }
  caf::actor_system_config cfg;
  prepare_system_config(cfg, true);
  caf::actor_system system{cfg};

  auto health_hdl = system.spawn(health);
  auto executor_hdl = system.spawn<caf::detached>(executor, health_hdl, config.max_batch);
  auto host_hdl = system.spawn(executor_host, executor_hdl, health_hdl);
  loader_config lc{config.checkpoint, config.model_dir, start.vocab, config.device, config.dtype};
  lc.lora_dir = lora_folder(config);
  lc.embeddings = std::make_shared<embedding_library>(embeddings_folder(config));
  install_upscalers(esrgan_folder(config), config.device, config.dtype);
  system.spawn(loader, lc,
               executor_hdl, host_hdl, health_hdl);

  int code = 0;
  auto port = system.middleman().publish(host_hdl, static_cast<uint16_t>(config.remote_port),
                                         config.remote_host.c_str(), true);
  if (!port) {
    spdlog::error("remote.port: cannot listen on {}:{}: {}", config.remote_host, config.remote_port,
                  system.render(port.error()));
    code = 1;
  } else {
    spdlog::info("executor host listening on {}:{}", config.remote_host, *port);
    const int sig = wait_stop_event();
    spdlog::info("signal {}: shutting down", sig);
  }
  caf::anon_send_exit(host_hdl, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(executor_hdl, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(health_hdl, caf::exit_reason::user_shutdown);
  return finish_actors(system, code);
}

} // namespace sdw
