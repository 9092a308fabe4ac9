#pragma once
/// The stages of a txt2img job, shared by run_txt2img and by batches across requests: a plan per
/// request (settings, seeds, infotext inputs), prompt encoding of one n_iter batch, a sampling stage
/// over the batches of several plans, and the decode and report stage.

#include "runtime/engine/sampling_setup.hpp"
#include "runtime/engine/conditioning.hpp"
#include "runtime/engine/lora_apply.hpp"
#include "runtime/formats/a1111_response.hpp"
#include "runtime/formats/infotext.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/engine/rng.hpp"
#include "runtime/engine/samplers.hpp"
#include "runtime/engine/txt2img.hpp"
#include "runtime/formats/txt2img_request.hpp"
#include "runtime/image/image8.hpp"

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sdw {

class clip_tokenizer;
class embedding_set;
class lora_library;
class sd_model;

/// One request made ready to run: everything run_txt2img derives before sampling.
struct txt2img_plan {
  const txt2img_request* request = nullptr;  ///< the caller's; must outlive the plan
  sampling_setup setup;
  at::Tensor sigmas;
  std::string prompt;    ///< after styles and comment stripping (extra-network tags kept)
  std::string negative;
  std::vector<int64_t> all_seeds;
  std::vector<int64_t> all_subseeds;
  std::string timestamp;
  prompt_settings prompt_opts;
  sdxl_sizes sdxl_size;                 ///< SDXL: the size conditioning (this pass's width and height)
  rng_source source = rng_source::gpu;
  int schedule_steps = 0;               ///< denoiser calls prompt schedules count
  int batch_size = 1;                   ///< images per n_iter batch (img2img: see img2img_batch_size)
  int sample_steps = 0;                 ///< sampler steps per n_iter batch, as progress counts them
  // img2img: the sampling starts from the init latents noised to sigmas[total − t_enc − 1], where
  // `sigmas` hold the whole schedule of img2img_steps; with no schedule at all (img2img_fix_steps
  // at strength 0) the init latents are the result.
  bool img2img = false;
  int t_enc = 0;
  at::Tensor init_latent;               ///< [batch_size, C, H, W] on the model's device
  /// Inpainting models: [batch_size × n_iter, 5, H, W] (inpaint_conditioning.hpp); a hires pass's,
  /// set per n_iter batch, [batch_size, 5, H, W].
  at::Tensor image_cond;
  /// torch's global generator after each n_iter batch's image conditioning (txt2img with an
  /// inpainting model), where A1111's hires pass goes on drawing posterior noise.
  std::vector<at::Generator> global_after_conditioning;
  double noise_multiplier = 1.0;        ///< initial_noise_multiplier
  double extra_noise = 0.0;             ///< option img2img_extra_noise
  std::array<int64_t, 3> latent_shape{};  ///< C, H, W of one image
  bool batch_cond_uncond = true;
  int64_t eta_noise_seed_delta = 0;
  bool no_dpmpp_sde_batch_determinism = false;  ///< the option: SDE noise from one tree per batch
  infotext_input info_in;               ///< shared infotext fields; prompt/seed/subseed per image
  std::shared_ptr<struct hires_plan> hires;  ///< enable_hr: the second pass (hires_fix.hpp)
  std::shared_ptr<struct inpaint_plan> inpaint;  ///< img2img with a mask (inpaint_init.hpp)
  /// Option img2img_color_correction: each batch row's prepared init image in Lab, whose colours
  /// that row's results take (color_correction.hpp); empty: none.
  std::vector<image8> color_corrections;
  lora_set loras;                       ///< the prompt's LoRA tags found in the Lora folder
};

/// The ᾱ schedule a plan's sampler works on with `model` (options sd_noise_schedule and
/// use_downcasted_alpha_bar; LCM's table for LCM).
const discrete_schedule& sampling_schedule(const sd_model& model, const sampling_setup& setup);

/// Builds the plan of a request (seeds fixed, job timestamp taken now), its LoRAs found in
/// `loras` (null: none found), its prompts' textual-inversion embeddings in `embeddings` (null:
/// none). `hr_title`: the short title of the hires checkpoint the request named (the infotext's
/// "Hires checkpoint"; empty: none named). Throws as make_sampling_setup and resolve_job_loras.
txt2img_plan make_txt2img_plan(const sd_model& model, const txt2img_request& request, const options& opts,
                               lora_library* loras = nullptr,
                               std::shared_ptr<const embedding_set> embeddings = nullptr,
                               const std::string& hr_title = {});

/// One n_iter batch of a plan with its prompts encoded (emphasis normalised over this batch only).
struct plan_batch {
  const txt2img_plan* plan = nullptr;
  int iter = 0;
  std::vector<multi_cond> conds;
  std::vector<cond_schedule> unconds;
  at::Tensor empty_cond;  ///< cond_padding::empty_prompt: the model's conditioning of "" [77, width]
};

/// Adds an entry to the plan's extra_generation_params (and its infotext's) when it is not there
/// yet, as A1111 sets them while sampling (the same value each time).
void note_extra(txt2img_plan& plan, const std::string& key, const json_value& value);

/// Encodes the prompts of batch `iter` of a plan.
plan_batch encode_plan_batch(const sd_model& model, const clip_tokenizer& tokenizer, const txt2img_plan& plan,
                             int iter);

/// The token lengths (positive, negative) the denoiser sees at each step of a batch. Batches can
/// share UNet calls without padding, and so without changing their results, only when these are equal.
std::vector<std::pair<int64_t, int64_t>> cond_lengths(const plan_batch& batch);

/// Where a sampling run stands at a model call, as A1111's refiner measures it (apply_refiner).
struct sampling_point {
  float by_sigma = 0;   ///< the completed ratio of the call's σ or timestep (checkpoint_switch.hpp)
  double by_steps = 0;  ///< model calls made / the calls the run makes (option refiner_switch_by_sample_steps)
};

/// Callbacks of the sampling stage.
struct sampling_hooks {
  /// After each sampler step (index, steps); may throw (e.g. errc::cancelled) to end sampling.
  std::function<void(int step, int steps)> on_step;
  /// Called before each model call, ahead of `stop`, with the latents an interruption there ends
  /// with: the denoised prediction of the last model call (before the first one, the initial
  /// noise scaled to the first sigma), all images' rows. Lets one batch member stop on its own.
  std::function<void(const at::Tensor& reached)> before_call;
  /// Checked before each model call; true ends sampling with the last denoised prediction.
  std::function<bool()> stop;
  /// Asked before each model call, after `stop` (A1111's refiner): a model returned takes the run
  /// over from that call, the batches' prompts encoded again by it with `tokenizer`.
  std::function<const sd_model*(const sampling_point&)> switch_model;
  const clip_tokenizer* tokenizer = nullptr;
  /// Called once sampling has ended (stopped or not) with an extra_generation_params entry the
  /// sampler adds then (A1111's add_infotext: "Pad conds", "Pad conds v0").
  std::function<void(const std::string& key, const json_value& value)> note;
};

/// Samples several plan batches as one: conditioning and CFG scales concatenated, each image with
/// its own noise generator (and, for the SDE samplers, each batch with its own Brownian trees), one
/// UNet call per step for all. The batches must have equal sampling
/// setups and cond_lengths. Returns the latents [images of all batches, C, H, W] in order.
at::Tensor sample_plan_batches(const sd_model& model, const std::vector<const plan_batch*>& batches,
                               const sampling_hooks& hooks);

/// Decodes image `k` (index within the whole job) of a plan from its latent [1, C, H, W], with infotext.
rgb_image decode_plan_image(const sd_model& model, const txt2img_plan& plan, const at::Tensor& latent, size_t k,
                            std::vector<rgb_image>* mask_images = nullptr);

/// What A1111's Processed holds for a finished plan given the infotexts of its images.
processed_info plan_processed_info(const sd_model& model, const txt2img_plan& plan,
                                   const std::vector<std::string>& infotexts);

/// The `info` JSON of a finished plan given the infotexts of its images.
std::string plan_info_json(const sd_model& model, const txt2img_plan& plan, const std::vector<std::string>& infotexts);

} // namespace sdw
