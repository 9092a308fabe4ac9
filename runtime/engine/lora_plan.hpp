#pragma once
/// A job's LoRAs: read from its prompt's tags, found in the Lora folder, and noted where A1111
/// notes them (extra_generation_params "Lora hashes"; unknown names only in the log).

#include "runtime/engine/lora_apply.hpp"
#include "runtime/formats/extra_networks.hpp"

#include <string>
#include <vector>

namespace sdw {

class lora_library;
struct model_config;
struct options;
struct txt2img_request;

/// The LoRAs a prompt's tags name, resolved.
struct job_loras {
  lora_set set;                      ///< found and read, in tag order (a name twice is applied twice)
  std::string hashes;                ///< "name: hash12, ..." for the infotext, empty when none
  std::vector<std::string> missing;  ///< names no file answers to
};

/// Resolves a prompt's LoRA tags (after styles and comments; tags still in it) against a
/// library (null: no Lora folder, every name unknown). Unknown names are logged as A1111 logs
/// them ("Lora not found: a, b") and the job goes on without them; tags A1111 cannot read
/// (a multiplier that is not a number) are logged and no LoRA is used. A file that cannot be
/// read (a module no network kind accepts, a broken file) is logged with its reason and counts
/// as not found, as A1111 skips a network that fails to load.
/// `config` is the job's model's: a file's modules are matched to its layers.
job_loras resolve_job_loras(const std::string& prompt, lora_library* library, const model_config& config);

/// "Lora hashes" as the Lora extension keeps them over both passes of hires fix: `first`'s
/// entries ("name: hash, ...") then those of `more` whose names are new (a dict by name).
std::string joined_lora_hashes(const std::string& first, const std::string& more);

/// The part of the executor's batch key that keeps jobs with different LoRAs apart: the tags of
/// the prompt the job encodes and of its hires prompt (styles and comments applied as
/// make_txt2img_plan does); none with disable_extra_networks.
std::string lora_batch_key(const txt2img_request& request, const options& opts);

} // namespace sdw
