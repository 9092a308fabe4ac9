#pragma once
/// Prompt text → CLIP conditioning as A1111 builds it: per-step schedules (prompt editing,
/// alternation), AND parts with weights, 75-token chunks and emphasis re-normalisation.

#include "runtime/engine/prompt_chunks.hpp"

#include <memory>

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

namespace sdw {

class clip_tokenizer;
class text_encoder;

/// One entry of a prompt's schedule: the conditioning used up to and including `end_at_step`.
struct scheduled_cond {
  int end_at_step;
  at::Tensor cond;  ///< [77·chunks, width] (SDXL: crossattn)
  at::Tensor y;     ///< SDXL: the vector conditioning [adm_in_channels]; undefined otherwise
};

/// A prompt over the sampling steps.
using cond_schedule = std::vector<scheduled_cond>;

/// A positive prompt: its AND parts, each a schedule with a weight.
struct multi_cond {
  std::vector<std::pair<cond_schedule, double>> parts;
};

class embedding_set;

/// SDXL's size conditioning: A1111 passes the job's size (p.width, p.height; the hires pass's
/// target size) as both original and target size, and crops from sdxl_crop_top / sdxl_crop_left.
struct sdxl_sizes {
  int height = 1024, width = 1024;
  int crop_top = 0, crop_left = 0;
};

/// Text-encoder settings a request can change (A1111 options), and the embeddings its prompts may name.
struct prompt_settings {
  int clip_skip = 1;
  emphasis_mode emphasis = emphasis_mode::original;
  int comma_padding_backtrack = 20;
  std::shared_ptr<const embedding_set> embeddings;  ///< null: none
  /// A hires pass: the first pass's denoiser steps. Prompt editing then runs on A1111's separate
  /// hires timeline (a fraction `when` counts from 1.0, a step number from the first pass's end).
  int first_pass_steps = 0;
  bool use_old_scheduling = false;  ///< option use_old_scheduling: `when` < 1 a fraction, else a step
  bool old_emphasis = false;        ///< option use_old_emphasis_implementation (SD1): tokenize_prompt_old
};

/// A text's chunks as `settings` tokenize it (tokenize_prompt, or tokenize_prompt_old).
std::vector<token_chunk> prompt_chunks_of(const std::string& text, const clip_tokenizer& tokenizer,
                                          const prompt_settings& settings, const embedding_set* embeddings);

/// A prompt's (end_at_step, text) schedule over `steps` denoiser steps with `settings`' timeline.
std::vector<std::pair<int, std::string>> scheduled_texts(const std::string& prompt, int steps,
                                                         const prompt_settings& settings);

/// Whether the old scheduling gives any of `prompts` another schedule than the new one on
/// `settings`' timeline (A1111 then notes "Old prompt editing timelines" when the option is on).
bool old_timelines_differ(const std::vector<std::string>& prompts, int steps, const prompt_settings& settings);

/// Encodes prompts with a loaded text encoder. Not thread-safe; one per executor.
class prompt_encoder {
public:
  prompt_encoder(const text_encoder& encoder, const clip_tokenizer& tokenizer, prompt_settings settings);
  /// SDXL base: CLIP ViT-L and OpenCLIP bigG side by side (sdxl_conditioning.hpp); every schedule
  /// entry also carries its `y` for `sizes`, built in `dtype` (the model's).
  prompt_encoder(const text_encoder& clip_l, const text_encoder& bigg, const clip_tokenizer& tokenizer,
                 prompt_settings settings, sdxl_sizes sizes, c10::ScalarType dtype);

  /// A1111's FrozenCLIPEmbedderWithCustomWords.forward: [texts, 77·chunks, width].
  at::Tensor encode(const std::vector<std::string>& texts) const;

  /// get_learned_conditioning: one schedule per prompt (identical prompts share the work).
  /// `negative`: A1111's is_negative_prompt (SDXL gives an all-empty negative zero conditioning).
  std::vector<cond_schedule> schedules(const std::vector<std::string>& prompts, int steps, bool negative = false) const;

  /// get_multicond_learned_conditioning: AND parts of each prompt, each scheduled.
  std::vector<multi_cond> multi_schedules(const std::vector<std::string>& prompts, int steps) const;

private:
  const text_encoder& encoder_;
  const text_encoder* bigg_ = nullptr;  ///< SDXL only
  const clip_tokenizer& tokenizer_;
  prompt_settings settings_;
  sdxl_sizes sizes_;
  c10::ScalarType dtype_ = c10::kFloat;
};

/// A1111's "TI hashes" after encoding `negative` and then `prompt` (its AND parts) over `steps`
/// denoiser calls: each encoding call puts the embeddings it used ("name: short hash", by first
/// use) in front of what the calls before it noted. Empty when no embedding was used.
std::string ti_hashes(const std::string& prompt, const std::string& negative, int steps, const prompt_settings& settings);

/// The conds of a batch at one denoiser step, stacked; shorter ones repeat their last vector.
at::Tensor cond_batch_at(const std::vector<cond_schedule>& conds, int step);
/// SDXL: their `y` vectors at that step, stacked [rows, adm]; undefined for other models.
at::Tensor vector_batch_at(const std::vector<cond_schedule>& conds, int step);

/// The positive conds at one step: the stacked tensor and, per image, (row, weight) pairs.
struct multi_cond_batch {
  at::Tensor tensor;
  at::Tensor y;  ///< SDXL: the rows' vectors; undefined otherwise
  std::vector<std::vector<std::pair<int, double>>> rows;
};
multi_cond_batch multi_cond_batch_at(const std::vector<multi_cond>& conds, int step);

} // namespace sdw
