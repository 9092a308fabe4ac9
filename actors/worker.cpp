#include "actors/worker.hpp"

#include "actors/encoder.hpp"
#include "actors/executor.hpp"
#include "actors/health.hpp"
#include "actors/loader.hpp"
#include "actors/scheduler.hpp"
#include "actors/sim_executor.hpp"

#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace sdw {
namespace {

int stop_pipe[2] = {-1, -1};

void on_stop_signal(int sig) {
  const char byte = static_cast<char>(sig);
  [[maybe_unused]] auto n = ::write(stop_pipe[1], &byte, 1);
}

} // namespace

worker_setup worker_setup_from(const worker_config& config, const std::string& clip_vocab) {
  return worker_setup{config.checkpoint,
                      config.model_dir,
                      clip_vocab,
                      config.device,
                      config.dtype,
                      static_cast<size_t>(config.queue_size),
                      config.simulate,
                      std::stod(config.simulate_time_scale)};
}

worker_actors start_worker(caf::actor_system& system, const worker_setup& config) {
  worker_actors a;
  a.health = system.spawn(health);
  a.encoder = system.spawn(encoder);
  if (config.simulate > 0) {
    // No model: the simulated executor is ready at once, so the worker serves from the start.
    a.executor = system.spawn<caf::detached>(sim_executor, a.health, sim_device{cost_model{}, config.simulate_time_scale});
    a.scheduler = system.spawn(scheduler, a.executor, a.encoder, a.health, config.queue_size);
    caf::anon_send(a.executor, model_atom::value, loaded_model{});
    caf::anon_send(a.scheduler, ready_atom::value, true, std::string());
    model_status status;
    status.state = "ready";
    status.progress = 1.0;
    status.stage = "ready";
    status.name = "simulated";
    caf::anon_send(a.health, state_atom::value, status);
    return a;
  }
  a.executor = system.spawn<caf::detached>(executor, a.health);
  a.scheduler = system.spawn(scheduler, a.executor, a.encoder, a.health, config.queue_size);
  system.spawn(loader, loader_config{config.model, config.model_dir, config.clip_vocab, config.device, config.dtype},
               a.executor, a.scheduler, a.health);
  return a;
}

void stop_worker(const worker_actors& a) {
  caf::anon_send_exit(a.scheduler, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(a.encoder, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(a.executor, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(a.health, caf::exit_reason::user_shutdown);
}

bool open_stop_channel() {
  // libtorch may already have started threads that do not block signals, so the handler only
  // wakes the main thread through a pipe, whichever thread receives the signal.
  if (::pipe(stop_pipe) != 0) {
    return false;
  }
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
  return true;
}

int wait_stop_event() {
  unsigned char byte = 0;
  while (::read(stop_pipe[0], &byte, 1) < 0 && errno == EINTR) {
  }
  return byte;
}

void notify_done(int code) {
  const char byte = static_cast<char>(stop_done + code);
  [[maybe_unused]] auto n = ::write(stop_pipe[1], &byte, 1);
}

void leave_process(int code) {
  spdlog::shutdown();
  std::fflush(nullptr);
  std::_Exit(code);
}

} // namespace sdw
