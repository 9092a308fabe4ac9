#pragma once
/// Batching across requests: txt2img jobs with equal sampling settings share their UNet calls while
/// each keeps its own prompt, negative prompt, CFG scale, seeds and noise generators, infotexts and
/// info JSON, so every image is what the request gives alone (up to float rounding).

#include "runtime/base/errors.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/engine/txt2img.hpp"
#include "runtime/formats/txt2img_request.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sdw {

class clip_tokenizer;
class embedding_set;
class lora_library;
class sd_model;

/// One request of a batch with its effective options (defaults + override_settings).
struct batch_member {
  txt2img_request request;
  options opts;
};

/// What one member of a batch ended with: its result, or the error it failed with
/// (errc::cancelled when its cancel flag was set).
struct batch_outcome {
  std::optional<txt2img_result> result;
  std::optional<error> failure;
  /// Whether the member finished with images.
  bool ok() const noexcept { return result.has_value(); }
};

/// Hooks into a running batch: progress after each step (counted over the whole batch) and, per
/// member, the flags of txt2img_hooks (a missing or null entry is never set). `cancel` ends the
/// member as errc::cancelled. `interrupt` and `skip` (A1111's) end the member's sampling run at
/// the next model call with the denoised prediction of the last one, decoded like a finished image,
/// while the other members go on. A member's n_iter batches may share a sampling run; as
/// run_txt2img does at the start of each n_iter batch, `skip` is cleared when a run with the member
/// starts (so a skip ends the member's batches in that run), and once interrupted a member's later
/// batches do not run. Alone with n_iter 1, that is exactly run_txt2img's behaviour.
struct batch_hooks {
  std::function<void(int step, int steps)> on_step;
  std::vector<const std::atomic<bool>*> cancel;
  std::vector<const std::atomic<bool>*> interrupt;
  std::vector<std::atomic<bool>*> skip;
};

/// The key that must be equal for two jobs to share UNet calls: size, sampler, sigma schedule,
/// steps, sampler parameters (eta, s_*), s_min_uncond, batch_cond_uncond, the LoRA tags and
/// hires fix's second-pass settings (both passes run shared); each member keeps its prompts and
/// hires prompts, CFG scale, seeds, CLIP skip, RNG source and ENSD. std::nullopt when a job cannot be batched with any other (tiling and other unsupported
/// features, an unknown sampler, DPM adaptive whose step control spans the batch).
std::optional<std::string> batch_key(const txt2img_request& request, const options& opts);

/// Runs the members as few batches as results allow: the n_iter batches of members with equal
/// batch_key whose prompts have equal token lengths at every step share sampling runs of at most
/// `max_images` images (one n_iter batch always fits; prompts of other lengths form their own
/// runs, never padded); members without a key run alone. Each outcome is what
/// run_txt2img gives for that member alone (images, infotexts, info JSON), up to float rounding. A
/// member whose cancel flag is set ends as errc::cancelled, one interrupted or skipped ends with
/// the images it reached (see batch_hooks), while the others go on.
std::vector<batch_outcome> run_txt2img_batch(const sd_model& model, const clip_tokenizer& tokenizer,
                                             const std::vector<batch_member>& members, const batch_hooks& hooks = {},
                                             int max_images = 64, lora_library* loras = nullptr,
                                             std::shared_ptr<const embedding_set> embeddings = nullptr);

} // namespace sdw
