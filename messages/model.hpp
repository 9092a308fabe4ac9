#pragma once
/// Messages about the model: the loaded model handed to the executor, and its state for health.

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>

namespace sdw {

class sd_model;
class clip_tokenizer;
class embedding_library;
class lora_library;
class model_cache;

/// A loaded checkpoint and its tokenizer, shared read-only with the executor. Local only: the
/// networks live in this process's memory.
struct loaded_model {
  std::shared_ptr<const sd_model> model;
  std::shared_ptr<const clip_tokenizer> tokenizer;
  /// The model's Lora folder; used only by the executor that runs the model.
  std::shared_ptr<lora_library> loras;
  /// The embeddings folder read for the model (shared with the front door, which lists it).
  std::shared_ptr<embedding_library> embeddings;
  /// The checkpoints this executor holds (the startup model among them), for jobs that name one.
  std::shared_ptr<model_cache> cache;
};

/// Where a model stands: being loaded, ready to run jobs, or failed to load (for good).
enum class model_state : uint8_t { loading, ready, failed };

/// As /health spells it ("loading", "ready", "failed").
inline const char* to_string(model_state s) {
  switch (s) {
    case model_state::loading: return "loading";
    case model_state::ready: return "ready";
    case model_state::failed: return "failed";
  }
  return "failed";
}

inline std::ostream& operator<<(std::ostream& out, model_state s) { return out << to_string(s); }

/// Where the model stands, as health reports it.
struct model_status {
  model_state state = model_state::loading;
  double progress = 0;            ///< load progress in [0, 1]
  std::string stage;              ///< what the loader is doing
  std::string error;              ///< why loading failed
  std::string name;               ///< A1111's model name (file stem)
  std::string path;               ///< the checkpoint file
  std::string sha256;             ///< of the whole file; empty until computed
  std::string config_path;        ///< the YAML beside the checkpoint, or empty
  double load_seconds = 0;        ///< start of loading → ready (warm-up included)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, model_status& x) {
  return f(caf::meta::type_name("sdw::model_status"), x.state, x.progress, x.stage, x.error, x.name, x.path,
           x.sha256, x.config_path, x.load_seconds);
}

} // namespace sdw

/// loaded_model holds in-process networks; it never leaves the process.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(sdw::loaded_model)
