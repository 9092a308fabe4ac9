#include "app/command_start.hpp"

#include "actors/worker.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/engine/clip_tokenizer.hpp"

#include <spdlog/spdlog.h>

namespace sdw {

command_start start_command(const worker_config& config, start_checks checks) {
  command_start start;
  try {
    if (checks.vocab) {
      start.vocab = find_clip_vocab(config.clip_vocab, config.model_dir);
    }
    if (checks.checkpoint) {
      startup_checkpoint(config);
    }
  } catch (const error& e) {
    spdlog::error("{}", e.what());
    start.exit_code = 2;
    return start;
  }
  if (!open_stop_channel()) {
    start.exit_code = 1;
  }
  return start;
}

} // namespace sdw
