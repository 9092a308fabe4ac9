#pragma once
/// The txt2img pipeline: request → seeds → conditioning → sampling → decoded 8-bit images,
/// as A1111's process_images does it for SD1.x.

#include "runtime/formats/options.hpp"
#include "runtime/formats/txt2img_request.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace sdw {

class clip_tokenizer;
class embedding_set;
class lora_library;
class sd_model;
struct checkpoint_switch;

/// One output image: 8-bit RGB, row-major, with its own infotext.
struct rgb_image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;
  std::string infotext;
};

/// Everything A1111 reports about a finished txt2img job.
struct txt2img_result {
  std::vector<rgb_image> images;
  std::string info_json;  ///< the `info` string of the A1111 response
  std::vector<int64_t> all_seeds;
  std::vector<int64_t> all_subseeds;
};

/// Hooks into a running job: progress after each sampler step, an optional final latent, and the
/// flags that stop it. `cancel`, checked after each step, ends the job with errc::cancelled.
/// `interrupt` and `skip` are A1111's: checked before each model call, they end the current
/// n_iter batch with the denoised prediction of the last model call (decoded like a finished
/// one); `interrupt` then ends the job with the images made so far, `skip` goes on with the next
/// batch and is cleared.
struct txt2img_hooks {
  std::function<void(int job_step, int job_steps)> on_step;
  std::function<void(const std::vector<float>& latent, const std::vector<int64_t>& shape)> on_latent;
  const std::atomic<bool>* cancel = nullptr;
  const std::atomic<bool>* interrupt = nullptr;
  std::atomic<bool>* skip = nullptr;
};

/// Runs a txt2img request. `opts` are the effective options (defaults + override_settings).
/// The prompt's `<lora:…>` tags are looked up in `loras` (null: no Lora folder) and merged into
/// the weights of every model the job runs on, for this job only. `hires`: the checkpoint
/// hr_checkpoint_name chose, which each second pass runs on; `refiner`: the one refiner_checkpoint
/// chose, which takes a sampling run over once it has come refiner_switch_at of the way (the
/// second pass only, with hires fix, unless option hires_fix_refiner_pass says otherwise); null:
/// none named (checkpoint_switch.hpp). Each n_iter batch starts on `model` again, as A1111 reloads
/// it. Errors: not_found for an unknown sampler, bad_request for values out of range, unsupported
/// naming the field for a checkpoint to switch to of another kind.
txt2img_result run_txt2img(const sd_model& model, const clip_tokenizer& tokenizer, const txt2img_request& request,
                           const options& opts, const txt2img_hooks& hooks = {}, lora_library* loras = nullptr,
                           std::shared_ptr<const embedding_set> embeddings = nullptr,
                           const checkpoint_switch* hires = nullptr, const checkpoint_switch* refiner = nullptr);

/// A1111's txt2img response JSON (`images` as base64 PNGs with infotext, `parameters`, `info`).
std::string encode_txt2img_response(const txt2img_result& result, const txt2img_request& request);

} // namespace sdw
