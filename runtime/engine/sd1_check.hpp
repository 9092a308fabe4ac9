#pragma once
/// Matching a checkpoint file against the SD1.x layout its config predicts, before any module is built.

#include "runtime/engine/model_config.hpp"
#include "runtime/engine/safetensors.hpp"

#include <map>
#include <string>

namespace sdw {

/// The file's tensors under their current names (older text-encoder keys renamed with
/// sd1_canonical_key); the pointers live as long as `file`.
std::map<std::string, const st_tensor*> sd1_tensor_map(const safetensors_file& file);

/// Throws error(bad_checkpoint, file.path(), "tensor '<name>': ...") for the first layout tensor that
/// is missing, has another shape, or is not floating point (f16/bf16/f32/f64), saying how many other
/// tensors are at fault and where the config came from. Extra tensors (EMA, schedule, ...) are fine.
void check_sd1_checkpoint(const safetensors_file& file, const model_config& config);

} // namespace sdw
