#pragma once
/// The local HTTP front door: A1111's /sdapi/v1 routes, /health and the RunPod-style test API
/// (/run, /runsync, /status, /status-sync, /stream, /cancel, /retry, /purge-queue), also under
/// `/v2/{endpoint_id}/` so RunPod's own clients work unchanged. A thin adapter: bodies are
/// checked with runtime/ functions, turned into typed messages to the scheduler and health, and
/// the answers are turned back into JSON. Requests run on the HTTP library's threads.

#include "messages/interfaces.hpp"
#include "runtime/formats/a1111_cmd_flags.hpp"
#include "runtime/formats/a1111_info_api.hpp"
#include "runtime/runpod/delivery_counters.hpp"

#include <caf/actor_system.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace sdw {

/// Where to listen, what to tell clients about limits, and who may call.
struct front_door_config {
  std::string host = "127.0.0.1";
  int port = 3000;
  size_t queue_capacity = 16;
  /// `--api-auth` users (HTTP basic auth). With users or an API key every route asks for
  /// credentials, /health only when `health_open` is false.
  std::vector<api_credential> auth;
  /// `--api-key`: taken as `Authorization: Bearer <key>` (or the bare key); empty = none.
  std::string api_key;
  /// Whether /health answers without credentials.
  bool health_open = true;
  /// The models folder (A1111's layout: Stable-diffusion/, VAE/, ...) requests choose from.
  std::string models_root = "models";
  /// The checkpoint the worker loads at start, listed wherever it is; jobs naming none run it.
  std::string startup_checkpoint;
  /// Bodies longer than this are refused with HTTP 413.
  size_t max_body_bytes = size_t{32} << 20;
  /// Requests asking for more work (width × height × images × steps / 1e6) are refused.
  double max_megapixel_steps = 10000;
  /// A1111's styles.csv (/sdapi/v1/prompt-styles, png-info); a missing file has no styles.
  std::string styles_file = "styles.csv";
  /// What /sdapi/v1/cmd-flags shows.
  a1111_flag_inputs flags;
  /// The Lora folder /sdapi/v1/loras lists (read on each request); empty = none.
  std::string lora_dir;
  /// Serve mode's result deliveries, counted for /metrics; null = none (api mode).
  std::shared_ptr<const delivery_counters> delivery;
  /// The embeddings folder /sdapi/v1/embeddings lists and refresh-embeddings reads again; null = none.
  std::shared_ptr<embedding_library> embeddings;
};

/// The options keeper for a front door with this configuration (its models folder and startup
/// checkpoint).
options_keeper_actor spawn_options_keeper(caf::actor_system& system, const front_door_config& config);

/// The HTTP listener and its routes.
class http_front {
public:
  /// `options`: the options keeper to share (serve mode's, so that the local API and the RunPod
  /// jobs see the same stored options); null = the front door spawns its own.
  http_front(caf::actor_system& system, scheduler_actor scheduler, health_actor health, front_door_config config,
             options_keeper_actor options = {});
  ~http_front();
  http_front(const http_front&) = delete;
  http_front& operator=(const http_front&) = delete;

  /// Starts listening; throws std::exception when the address cannot be bound.
  void open();
  /// Stops listening and waits for the listener to close. Answers not given by then are lost:
  /// a stopping worker drains first (below).
  void close();

  /// Draining, for a clean stop: requests that would start work (txt2img, img2img, extras, /run,
  /// /runsync, /retry) get 503 from now on; the rest (status, cancel, health, ...) are served.
  void refuse_new_work();
  /// Requests received and not answered yet.
  size_t unanswered() const;
  /// Interrupts the running jobs (they answer with the images reached, as A1111's /interrupt)
  /// and cancels the queued ones.
  void end_jobs();
  /// Answers every request still waiting with 503.
  void answer_unanswered();

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

} // namespace sdw
