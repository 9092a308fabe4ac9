#pragma once
/// The loader: reads the checkpoint and the tokenizer in the background from the moment the
/// worker starts, reports load progress to health, hands the model to the executor and tells
/// the scheduler (or an executor host) it may start (or that loading failed). One per device, each for its
/// executor. A blocking actor on its own thread;
/// it ends when the model is loaded and hashed. Nobody sends it messages.

#include "messages/interfaces.hpp"

#include <caf/blocking_actor.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace sdw {

class embedding_library;

/// What to load and where.
struct loader_config {
  std::string model_path;  ///< checkpoint; empty = the embedded demo model in model_dir
  std::string model_dir = "models";
  std::string clip_vocab;  ///< the tokenizer's BPE file
  std::string device = "auto";
  std::string dtype = "auto";
  int32_t device_index = -1;  ///< the scheduler's index of this loader's device; -1 = every device
  bool report_health = true;  ///< whether this loader reports the model's state to health
  std::string lora_dir;       ///< the Lora folder; empty or missing = no LoRA is ever found
  size_t model_cache_bytes = size_t{8192} << 20;  ///< the executor's model cache budget
  std::string model_url;     ///< fetch model_path from here first when it is not there (or not this file)
  std::string model_sha256;  ///< what the fetched file must hash to; empty = unchecked
  /// The embeddings folder, read for the model once it is loaded; null = no embeddings.
  std::shared_ptr<embedding_library> embeddings;
};

/// The loader's body; spawn it with the system (blocking actors always get their own thread).
void loader(caf::blocking_actor* self, loader_config config, executor_actor executor, ready_listener scheduler,
            health_actor health);

} // namespace sdw
