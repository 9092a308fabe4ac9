#include "runtime/engine/sd_upscale.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/engine/img2img_init.hpp"
#include "runtime/engine/lora_apply.hpp"
#include "runtime/engine/nn_ops.hpp"
#include "runtime/engine/sd_model.hpp"
#include "runtime/engine/seeds.hpp"
#include "runtime/engine/txt2img_plan.hpp"
#include "runtime/engine/upscaler_library.hpp"
#include "runtime/formats/a1111_response.hpp"
#include "runtime/formats/a1111_scripts.hpp"
#include "runtime/image/resample.hpp"
#include "runtime/image/tile_grid.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <optional>

namespace sdw {
namespace {

bool is_set(const std::atomic<bool>* flag) { return flag != nullptr && flag->load(); }

/// The img2img request of one batch: the script's request with these tiles as init images, n_iter 1
/// and the batch's seeds, the script itself taken away.
txt2img_request batch_request(const txt2img_request& req, std::vector<image8> tiles, int64_t seed, int64_t subseed) {
  txt2img_request b = req;
  b.script_name.reset();
  b.script_args.clear();
  b.alwayson_scripts.clear();
  b.n_iter = 1;
  b.seed = seed;
  b.subseed = subseed;
  b.init_images = std::move(tiles);
  b.init_images_text.reset();
  return b;
}

/// The script's extra_generation_params, set before the first process_images and so first in order.
void note_script_params(txt2img_plan& plan, const sd_upscale_args& args) {
  const json_member notes[] = {{"SD upscale overlap", json_value(args.overlap)},
                               {"SD upscale upscaler", json_value(args.upscaler)}};
  plan.setup.extra.insert(plan.setup.extra.begin(), std::begin(notes), std::end(notes));
  auto& info = plan.info_in.extra_params;
  info.insert(info.begin(), {std::make_pair(notes[0].first, python_str(notes[0].second)),
                             std::make_pair(notes[1].first, python_str(notes[1].second))});
}

image8 to_image8(rgb_image&& px) {
  image8 im(px.width, px.height, 3);
  im.pixels = std::move(px.pixels);
  return im;
}

} // namespace

txt2img_result run_sd_upscale(const sd_model& model, const clip_tokenizer& tokenizer, const txt2img_request& req,
                              const options& opts, const txt2img_hooks& hooks, lora_library* loras,
                              std::shared_ptr<const embedding_set> embeddings) {
  c10::InferenceMode guard;
  const sd_upscale_args args = sd_upscale_args_of(req);
  const nn::circular_padding_scope tiling(req.tiling.value_or(opts.tiling));
  if (req.restore_faces.value_or(opts.face_restoration)) {
    spdlog::warn("restore_faces: no face restoration model is loaded ({}); the tiles are returned as they are, "
                 "as A1111 does without one", opts.face_restoration_model);
  }
  const int64_t seed = fix_seed(req.seed);
  const int64_t subseed = fix_seed(req.subseed);

  // The script upscales p.init_images[0]; img2img flattens each tile, which for an image with
  // alpha equals flattening first up to rounding (both resizes are linear).
  image8 image = flatten(req.init_images.at(0), parse_color(opts.img2img_background_color, "img2img_background_color"));
  if (args.upscaler != "None") {
    const auto models = model_upscalers_on(model.placement().device, model.placement().dtype);
    image = a1111_upscaler_upscale(image, args.scale_factor, args.upscaler,
                                   {models.get(), opts.ESRGAN_tile, opts.ESRGAN_tile_overlap});
  }
  tile_grid grid = split_grid(image, req.width, req.height, args.overlap);
  std::vector<image8> work;
  for (const auto& row : grid.rows) {
    for (const auto& t : row.tiles) work.push_back(t.image);
  }
  const int batch_size = req.batch_size;
  const int batch_count = (static_cast<int>(work.size()) + batch_size - 1) / batch_size;
  spdlog::info("SD upscaling will process a total of {} images tiled as {}x{} per upscale in a total of {} batches",
               work.size(), grid.rows.front().tiles.size(), grid.rows.size(), batch_count * req.n_iter);

  const rng_source source = parse_rng_source(opts.randn_source);
  // torch's global CPU generator as A1111's VAE encode finds it (img2img_init.hpp).
  at::Generator global = at::make_generator<at::CPUGeneratorImpl>(torch_default_seed);
  std::optional<lora_patcher> patched;
  std::optional<std::string> initial_info;
  std::string job_timestamp;  // A1111's state.job_timestamp: taken once, when the job begins
  std::unique_ptr<txt2img_request> last_request;
  std::unique_ptr<txt2img_plan> last_plan;
  std::vector<rgb_image> results;
  int job_step = 0;
  int job_steps = 0;

  for (int n = 0; n < req.n_iter; ++n) {
    int64_t batch_seed = seed + n;
    std::vector<image8> done;
    for (int i = 0; i < batch_count && !is_set(hooks.interrupt); ++i) {
      if (hooks.skip != nullptr) hooks.skip->store(false);
      const auto first = work.begin() + static_cast<std::ptrdiff_t>(i) * batch_size;
      const auto last = work.begin() + std::min<std::ptrdiff_t>(static_cast<std::ptrdiff_t>(i + 1) * batch_size,
                                                                static_cast<std::ptrdiff_t>(work.size()));
      auto breq = std::make_unique<txt2img_request>(batch_request(req, {first, last}, batch_seed, subseed));
      auto plan = std::make_unique<txt2img_plan>(make_txt2img_plan(model, *breq, opts, loras, embeddings));
      note_script_params(*plan, args);
      if (n > 0 || i > 0) {
        // The encode of make_txt2img_plan drew from a fresh default-seeded generator; A1111's draws
        // from the global one, which the previous batch's noise left seeded with its last seed.
        plan->init_latent = encode_pixels(model, prepare_init_images(*breq, opts), global);
      } else if (source == rng_source::nv) {
        // The plan's encode drew the first noise of the default-seeded generator: the same draws
        // (one posterior sample per image) move the job's generator past it.
        const auto& c = plan->latent_shape;
        for (int64_t k = 0; k < plan->init_latent.size(0); ++k) at::randn({1, c[0], c[1], c[2]}, global);
      }
      if (!patched) {
        patched.emplace(model);
        patched->apply(plan->loras, lora_part::text);
        patched->apply(plan->loras, lora_part::unet);
        job_steps = plan->sample_steps * batch_count * req.n_iter;
      }
      const plan_batch batch = encode_plan_batch(model, tokenizer, *plan, 0);
      sampling_hooks sh;
      sh.stop = [&] { return is_set(hooks.interrupt) || is_set(hooks.skip); };
      sh.on_step = [&](int step, int) {
        if (is_set(hooks.cancel)) throw error(errc::cancelled, "", "the job was interrupted");
        if (hooks.on_step) hooks.on_step(job_step + step + 1, job_steps);
      };
      sh.note = [&plan](const std::string& key, const json_value& value) { note_extra(*plan, key, value); };
      const at::Tensor samples = sample_plan_batches(model, {&batch}, sh);
      job_step += plan->sample_steps;
      std::vector<std::string> infotexts;
      for (int64_t k = 0; k < samples.size(0); ++k) {
        rgb_image px = decode_plan_image(model, *plan, samples.narrow(0, k, 1), static_cast<size_t>(k));
        infotexts.push_back(px.infotext);
        done.push_back(to_image8(std::move(px)));
      }
      if (!initial_info) {
        initial_info = infotexts.front();
        job_timestamp = plan->timestamp;
      }
      if (source != rng_source::nv) {
        const auto rows = static_cast<size_t>(samples.size(0));
        global = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(plan->all_seeds.at(rows - 1)));
      }
      // p.seed = processed.seed + 1: the batch's first seed, plus one.
      batch_seed = plan->all_seeds.front() + 1;
      last_request = std::move(breq);  // the plan points at it
      last_plan = std::move(plan);
    }
    // Tiles without a result (an interrupted job) stay black, as the script fills them.
    size_t k = 0;
    for (auto& row : grid.rows) {
      for (auto& t : row.tiles) {
        t.image = k < done.size() ? done[k] : image8(req.width, req.height, 3);
        ++k;
      }
    }
    image8 combined = combine_grid(grid);
    results.push_back(rgb_image{combined.width, combined.height, std::move(combined.pixels), ""});
  }
  if (!last_plan) throw error(errc::cancelled, "", "the job was interrupted before its first batch");

  // Processed(p, result_images, seed, initial_info).
  processed_info info = plan_processed_info(model, *last_plan, std::vector<std::string>(results.size(), *initial_info));
  info.seed = seed;
  info.subseed = -1;
  info.job_timestamp = job_timestamp;
  txt2img_result out;
  out.info_json = make_info_json(info);
  out.all_seeds = info.all_seeds;
  out.all_subseeds = info.all_subseeds;
  out.images = std::move(results);
  return out;
}

} // namespace sdw
