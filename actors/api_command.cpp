#include "actors/api_command.hpp"

#include "actors/encoder.hpp"
#include "actors/executor.hpp"
#include "actors/health.hpp"
#include "actors/http_front.hpp"
#include "actors/loader.hpp"
#include "actors/scheduler.hpp"
#include "runtime/a1111_info_api.hpp"
#include "runtime/errors.hpp"
#include "runtime/generate_command.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include <exception>

namespace sdw {
namespace {

int stop_pipe[2] = {-1, -1};

void on_stop_signal(int sig) {
  const char byte = static_cast<char>(sig);
  [[maybe_unused]] auto n = ::write(stop_pipe[1], &byte, 1);
}

} // namespace

int run_api(const worker_config& args) {
  std::string vocab;
  std::vector<api_credential> users;
  try {
    vocab = find_clip_vocab(args.clip_vocab, args.model_dir);
    if (!args.api_auth.empty()) {
      users = parse_api_auth(args.api_auth);
    }
  } catch (const error& e) {
    spdlog::error("{}", e.what());
    return 2;
  }

  // libtorch may already have started threads that do not block signals, so the handler only
  // wakes the main thread through a pipe, whichever thread receives the signal.
  if (::pipe(stop_pipe) != 0) {
    spdlog::error("cannot create the shutdown pipe");
    return 1;
  }
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);

  caf::actor_system_config cfg;
  add_message_types(cfg);
  cfg.set("scheduler.max-threads", 2);
  caf::actor_system system{cfg};

  auto health_hdl = system.spawn(health);
  auto encoder_hdl = system.spawn(encoder);
  auto executor_hdl = system.spawn<caf::detached>(executor, health_hdl);
  auto scheduler_hdl =
    system.spawn(scheduler, executor_hdl, encoder_hdl, health_hdl, static_cast<size_t>(args.queue_size));
  system.spawn(loader, loader_config{args.checkpoint, args.model_dir, vocab, args.device, args.dtype}, executor_hdl,
               scheduler_hdl, health_hdl);

  int code = 0;
  {
    front_door_config door{args.host, args.port, static_cast<size_t>(args.queue_size), users, {args.model_dir},
                           static_cast<size_t>(args.max_body_mb) << 20};
    http_front front(system, scheduler_hdl, health_hdl, std::move(door));
    try {
      front.open();
      spdlog::info("listening on http://{}:{} (A1111 /sdapi/v1{}, RunPod /run, /runsync, /status, /stream, /cancel, "
                   "/retry, /purge-queue, /health, also under /v2/<endpoint>/)",
                   args.host, args.port, users.empty() ? "" : " with --api-auth");
      char sig = 0;
      while (::read(stop_pipe[0], &sig, 1) < 0 && errno == EINTR) {
      }
      spdlog::info("signal {}: shutting down", static_cast<int>(sig));
    } catch (const std::exception& e) {
      spdlog::error("cannot serve on {}:{}: {}", args.host, args.port, e.what());
      code = 1;
    }
    front.close();
  }
  caf::anon_send_exit(scheduler_hdl, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(encoder_hdl, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(executor_hdl, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(health_hdl, caf::exit_reason::user_shutdown);
  // CAF 0.17.6's actor_system destructor was seen waiting forever here after every actor and
  // CAF thread had ended; nothing is left to save, so leave without running it.
  spdlog::info("stopped");
  spdlog::shutdown();
  std::fflush(nullptr);
  std::_Exit(code);
  return code;
}

} // namespace sdw
