#include "actors/loader.hpp"

#include "runtime/engine/clip_tokenizer.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/engine/embedding_library.hpp"
#include "runtime/engine/lora_library.hpp"
#include "runtime/download/model_download.hpp"
#include "runtime/engine/make_model.hpp"
#include "runtime/engine/model_cache.hpp"
#include "runtime/engine/sd_model.hpp"

#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <exception>
#include <filesystem>
#include <mutex>

namespace sdw {
namespace {

void tell_ready(caf::blocking_actor* self, const ready_listener& scheduler, const loader_config& config, bool ok,
                const std::string& message) {
  if (config.device_index < 0) {
    self->send(scheduler, ready_atom::value, ok, message);
  } else {
    self->send(scheduler, ready_atom::value, ok, message, config.device_index);
  }
}

void tell_health(caf::blocking_actor* self, const health_actor& health, const loader_config& config,
                 const model_status& status) {
  if (config.report_health) {
    self->send(health, state_atom::value, status);
  }
}

/// Fetches the startup checkpoint (one loader at a time: the others then find it in place),
/// reporting the bytes as load progress.
void fetch_startup_model(const loader_config& config, const health_actor& health) {
  static std::mutex one_at_a_time;
  std::lock_guard<std::mutex> lock(one_at_a_time);
  spdlog::info("fetching {} unless it is there already", config.model_path);
  auto last = std::chrono::steady_clock::now();
  fetch_model(model_download{config.model_url, config.model_path, config.model_sha256},
              [&](std::uint64_t done, std::uint64_t total) {
                const auto now = std::chrono::steady_clock::now();
                if (now - last < std::chrono::milliseconds(500) && done != total) {
                  return;
                }
                last = now;
                const double mib = static_cast<double>(done) / (1 << 20);
                if (config.report_health) {
                  caf::anon_send(health, progress_atom::value, total > 0 ? 0.5 * static_cast<double>(done) / static_cast<double>(total) : 0.0,
                                 fmt::format("downloading ({:.0f} MiB)", mib));
                }
                spdlog::info("downloading {}: {:.0f} of {:.0f} MiB", config.model_path, mib,
                             static_cast<double>(total) / (1 << 20));
              });
}

} // namespace

void loader(caf::blocking_actor* self, loader_config config, executor_actor executor, ready_listener scheduler,
            health_actor health) {
  const auto t0 = std::chrono::steady_clock::now();
  model_status status;
  try {
    status.path = config.model_path.empty() ? ensure_demo_model(config.model_dir) : config.model_path;
    status.name = std::filesystem::path(status.path).stem().string();
    const auto yaml = std::filesystem::path(status.path).replace_extension(".yaml");
    if (std::filesystem::exists(yaml)) {
      status.config_path = yaml.string();
    }
    status.stage = "starting";
    tell_health(self, health, config, status);
    if (!config.model_url.empty()) {
      fetch_startup_model(config, health);
    }

    auto tokenizer = std::make_shared<const clip_tokenizer>(clip_tokenizer::from_file(config.clip_vocab));
    // The progress callback may run on loading threads: anon_send is safe from any thread.
    std::shared_ptr<const sd_model> model =
      sd_model::load(status.path, device_options{config.device, config.dtype},
                     [health, report = config.report_health](double fraction, const std::string& stage) {
                       if (report) {
                         caf::anon_send(health, progress_atom::value, fraction, stage);
                       }
                     });
    // Ready means ready: the first job must not pay for weights read on first use or (on a GPU)
    // kernels set up on the first call; see warm_up.
    if (config.report_health) {
      caf::anon_send(health, progress_atom::value, 1.0, std::string("warming up"));
    }
    // The executor gets (and warms up) the model before the scheduler hears it is ready, so the
    // first job always finds it ready.
    auto loras = std::make_shared<lora_library>(config.lora_dir);
    if (config.embeddings) {
      config.embeddings->load_for(embedding_kind_of(model->config()), tokenizer);
    }
    auto cache = std::make_shared<model_cache>(device_options{config.device, config.dtype}, config.model_cache_bytes);
    cache->put(model);
    std::string not_ready;
    self->request(executor, caf::infinite, model_atom::value, loaded_model{model, tokenizer, loras, config.embeddings, cache})
      .receive([&](std::string& why) { not_ready = std::move(why); },
               [&](caf::error& e) { not_ready = "the executor did not take the model: " + self->system().render(e); });
    if (!not_ready.empty()) {
      throw error(errc::internal, "model", "warming up " + status.path + " failed: " + not_ready);
    }
    tell_ready(self, scheduler, config, true, std::string());
    status.state = model_state::ready;
    status.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    status.progress = 1.0;
    status.stage = "ready";
    tell_health(self, health, config, status);
    spdlog::info("model {} ready on {} in {:.2f} s", status.name, config.device,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    status.sha256 = model->sha256();
    tell_health(self, health, config, status);
  } catch (const std::exception& e) {
    // An sdw::error names the file and tensor; anything else (libtorch's errors carry a stack
    // trace) is shown by its first line and an id, and logged whole.
    const std::string id = new_error_id();
    spdlog::error("{}: loading the model failed: {}", id, e.what());
    const std::string shown =
      dynamic_cast<const error*>(&e) != nullptr ? std::string(e.what()) : public_error_text(e.what(), id);
    status.state = model_state::failed;
    status.error = shown;
    tell_ready(self, scheduler, config, false, shown);
    tell_health(self, health, config, status);
  }
}

} // namespace sdw
