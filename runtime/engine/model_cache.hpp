#pragma once
/// The models one executor holds: the checkpoints its jobs name, loaded on first use and kept
/// within a memory budget, least recently used first out. Each executor has its own (LoRAs are
/// merged into the weights of the model a job runs, so two devices never share one), and it is
/// used from the executor's thread only.

#include "runtime/engine/sd_model.hpp"

#include <cstddef>
#include <list>
#include <memory>
#include <string>
#include <vector>

namespace sdw {

/// A model in the cache, as /health shows it.
struct cached_model {
  std::string checkpoint;
  std::vector<std::string> vaes;  ///< VAE files loaded for it
  size_t bytes = 0;
};

class model_cache {
public:
  /// `budget_bytes`: what the held weights may take together; a model larger than the budget
  /// is still loaded when a job needs it, alone.
  model_cache(device_options device, size_t budget_bytes);

  /// Adds a model loaded elsewhere (the startup model), as most recently used.
  void put(std::shared_ptr<const sd_model> model);

  /// The model of checkpoint `path` with the VAE file `vae_path` ("" = its own): held already, or
  /// loaded now after letting go of the least recently used models until it fits the budget.
  /// Errors name the file (a missing or damaged checkpoint or VAE).
  std::shared_ptr<const sd_model> get(const std::string& path, const std::string& vae_path,
                                      const load_progress& progress = {});

  /// Lets go of every model (A1111's unload-checkpoint); jobs still running keep theirs alive.
  void clear();

  /// The checkpoint used last, or null when none is held.
  std::shared_ptr<const sd_model> current() const;

  /// What is held, most recently used first.
  std::vector<cached_model> contents() const;
  size_t bytes() const noexcept { return bytes_; }
  size_t budget() const noexcept { return budget_; }

  /// How many loads from disk the cache has done (checkpoints and VAEs).
  size_t loads() const noexcept { return loads_; }

private:
  struct entry {
    std::shared_ptr<const sd_model> model;  ///< with the checkpoint's own VAE
    std::vector<std::pair<std::string, std::shared_ptr<const sd_model>>> with_vaes;
    size_t bytes = 0;
  };
  /// Lets go of least recently used models until `wanted` more bytes fit, keeping the first `keep`.
  void make_room(size_t wanted, size_t keep = 0);
  std::list<entry>::iterator find(const std::string& path);

  device_options device_;
  size_t budget_;
  size_t bytes_ = 0;
  size_t loads_ = 0;
  std::list<entry> entries_;  ///< most recently used first
};

} // namespace sdw
