#include "actors/worker.hpp"

#include "runtime/catalog/model_folders.hpp"
#include "runtime/download/model_download.hpp"
#include "runtime/engine/make_model.hpp"

#include "actors/encoder.hpp"
#include "actors/executor.hpp"
#include "actors/health.hpp"
#include "actors/loader.hpp"
#include "actors/remote_executor.hpp"
#include "actors/scheduler.hpp"
#include "actors/sim_executor.hpp"
#include "runtime/config/executor_devices.hpp"
#include "runtime/engine/cuda_devices.hpp"
#include "runtime/engine/embedding_library.hpp"
#include "runtime/engine/sd_model.hpp"
#include "runtime/engine/upscaler_library.hpp"

#include <caf/io/middleman.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

namespace sdw {
namespace {

int stop_pipe[2] = {-1, -1};

void on_stop_signal(int sig) {
  const char byte = static_cast<char>(sig);
  [[maybe_unused]] auto n = ::write(stop_pipe[1], &byte, 1);
}

} // namespace

std::string startup_checkpoint(const worker_config& config) {
  if (!config.checkpoint.empty()) {
    return config.checkpoint;
  }
  if (!config.model_url.empty()) {
    return download_target(config.model_url, model_folders{config.model_dir}.checkpoints()).string();
  }
  return demo_model_path(config.model_dir);
}

worker_setup worker_setup_from(const worker_config& config, const std::string& clip_vocab) {
  const std::string model = config.model_url.empty() ? config.checkpoint : startup_checkpoint(config);
  worker_setup s{model, config.model_dir, clip_vocab, config.device, config.dtype,
                 static_cast<size_t>(config.queue_size)};
  if (config.simulate > 0) {
    s.simulate = config.simulate;
    s.simulate_speeds = simulate_speeds(config);
    s.simulate_time_scale = simulate_time_scale(config);
  } else {
    s.devices = executor_devices(config, cuda_device_count());
    s.remotes = remote_executors(config);
  }
  s.max_batch = config.max_batch;
  s.kept_results.max_bytes = static_cast<size_t>(config.kept_results_mb) << 20;
  s.kept_results.max_age = std::chrono::minutes(config.kept_results_minutes);
  s.lora_dir = lora_folder(config);
  s.embeddings_dir = embeddings_folder(config);
  s.model_url = config.model_url;
  s.model_sha256 = config.model_sha256;
  s.model_cache_bytes = static_cast<size_t>(std::max(0, config.model_cache_mb)) << 20;
  s.esrgan_dir = esrgan_folder(config);
  return s;
}

worker_actors start_worker(caf::actor_system& system, const worker_setup& config) {
  worker_actors a;
  a.health = system.spawn(health);
  a.encoder = system.spawn(encoder);
  const scheduler_limits limits{config.queue_size, config.max_batch, config.kept_results};
  std::vector<scheduler_device> devices;
  if (config.simulate > 0) {
    for (int i = 0; i < config.simulate; ++i) {
      sim_device dev;
      dev.costs.speed = static_cast<size_t>(i) < config.simulate_speeds.size() ? config.simulate_speeds[i] : 1.0;
      dev.time_scale = config.simulate_time_scale;
      auto hdl = system.spawn<caf::detached>(sim_executor, a.health, dev);
      caf::anon_send(hdl, model_atom::value, loaded_model{});
      a.executors.push_back(hdl);
      devices.push_back(scheduler_device{hdl, "sim:" + std::to_string(i), dev.costs, dev.time_scale});
    }
    a.executor = a.executors.front();
    a.scheduler = system.spawn(scheduler_for_devices, std::move(devices), a.encoder, a.health, limits);
    model_status status;
    status.state = model_state::ready;
    status.progress = 1.0;
    status.stage = "ready";
    status.name = "simulated";
    caf::anon_send(a.health, state_atom::value, status);
    caf::anon_send(a.scheduler, ready_atom::value, true, std::string());
    spdlog::info("{} simulated devices (time scale {})", config.simulate, config.simulate_time_scale);
    return a;
  }
  const std::vector<std::string> names = config.devices.empty() && config.remotes.empty()
                                          ? std::vector<std::string>{config.device}
                                          : config.devices;
  for (const auto& name : names) {
    auto hdl = system.spawn<caf::detached>(executor, a.health, config.max_batch);
    a.executors.push_back(hdl);
    devices.push_back(scheduler_device{hdl, name, cost_model{}});
  }
  a.embeddings = std::make_shared<embedding_library>(config.embeddings_dir);
  std::vector<remote_executor_actor> remotes;
  for (const auto& address : config.remotes) {
    // With no local device, the first host speaks for the model in /health.
    auto hdl = system.spawn(remote_executor, address, a.health, names.empty() && remotes.empty());
    remotes.push_back(hdl);
    a.executors.push_back(hdl);
    devices.push_back(scheduler_device{hdl, "remote:" + address.text(), cost_model{}});
  }
  a.executor = a.executors.front();
  a.scheduler = system.spawn(scheduler_for_devices, std::move(devices), a.encoder, a.health, limits);
  install_upscalers(config.esrgan_dir, names.empty() ? std::string("cpu") : names.front(), config.dtype);
  for (size_t j = 0; j < remotes.size(); ++j) {
    caf::anon_send(remotes[j], ready_atom::value, a.scheduler, static_cast<int32_t>(names.size() + j));
  }
  for (size_t i = 0; i < names.size(); ++i) {
    loader_config lc{config.model, config.model_dir, config.clip_vocab, names[i], config.dtype};
    lc.device_index = static_cast<int32_t>(i);
    lc.lora_dir = config.lora_dir;
    lc.model_cache_bytes = config.model_cache_bytes;
    lc.model_url = config.model_url;
    lc.model_sha256 = config.model_sha256;
    lc.embeddings = a.embeddings;
    // One voice for the model's state in /health; each device's own state is in its entry.
    lc.report_health = i == 0;
    system.spawn(loader, lc, a.executors[i], a.scheduler, a.health);
  }
  if (names.size() + remotes.size() > 1) {
    spdlog::info("{} devices: one executor and model each ({} on executor hosts)", names.size() + remotes.size(),
                 remotes.size());
  }
  return a;
}

void install_upscalers(const std::string& esrgan_dir, const std::string& device, const std::string& dtype) {
  const std::filesystem::path esrgan(esrgan_dir);
  upscaler_folders folders{esrgan_dir, (esrgan.parent_path() / "RealESRGAN").string()};
  weight_placement where;
  try {
    where = resolve_placement(device_options{device, dtype});
  } catch (const std::exception& e) {
    spdlog::warn("model upscalers run on the CPU: {}", e.what());
  }
  install_upscaler_library(std::make_shared<upscaler_library>(folders), where.device, where.dtype == c10::kHalf);
}

void prepare_system_config(caf::actor_system_config& cfg, bool network) {
  add_message_types(cfg);
  cfg.set("scheduler.max-threads", 2);
  if (network) {
    cfg.load<caf::io::middleman>();
  }
}

void stop_worker(const worker_actors& a) {
  caf::anon_send_exit(a.scheduler, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(a.encoder, caf::exit_reason::user_shutdown);
  for (const auto& e : a.executors) {
    caf::anon_send_exit(e, caf::exit_reason::user_shutdown);
  }
  caf::anon_send_exit(a.health, caf::exit_reason::user_shutdown);
}

bool open_stop_channel() {
  // libtorch may already have started threads that do not block signals, so the handler only
  // wakes the main thread through a pipe, whichever thread receives the signal.
  if (::pipe(stop_pipe) != 0) {
    spdlog::error("cannot create the shutdown pipe");
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

int wait_stop_event_until(std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return stop_timed_out;
    }
    pollfd fd{stop_pipe[0], POLLIN, 0};
    const int n = ::poll(&fd, 1, static_cast<int>(std::min<int64_t>(left.count(), 60000)));
    if (n > 0) {
      return wait_stop_event();
    }
    if (n < 0 && errno != EINTR) {
      return stop_timed_out;
    }
  }
}

void notify_done(int code) {
  const char byte = static_cast<char>(stop_done + code);
  [[maybe_unused]] auto n = ::write(stop_pipe[1], &byte, 1);
}

int finish_actors(caf::actor_system& system, int code) {
  constexpr auto patience = std::chrono::seconds(10);
  const auto until = std::chrono::steady_clock::now() + patience;
  while (system.registry().running() > 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (const size_t left = system.registry().running(); left > 0) {
    spdlog::error("{} actor(s) still running {} s after the stop; leaving without waiting for them", left,
                  patience.count());
    spdlog::shutdown();
    std::fflush(nullptr);
    std::_Exit(code);
  }
  // Every actor has ended: the destructor only stops CAF's scheduler and network threads. Should
  // it still block, the watchdog ends the process (writing with stdio only: spdlog may be gone).
  std::thread([code, patience] {
    std::this_thread::sleep_for(patience);
    std::fprintf(stderr, "the actor system took over %lld s to shut down; leaving\n",
                 static_cast<long long>(patience.count()));
    std::fflush(nullptr);
    std::_Exit(code);
  }).detach();
  return code;
}

} // namespace sdw
