#include "app/bench_command.hpp"

#include "app/generate_command.hpp"
#include "runtime/engine/clip_tokenizer.hpp"
#include "runtime/engine/sd_model.hpp"
#include "runtime/engine/txt2img.hpp"

#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>

namespace sdw {

int run_hires_bench(const bench_args& args) {
  const std::string path = bench_model(args);
  device_options dev{args.device, args.dtype};
  dev.memory_format = args.memory_format;
  auto model = sd_model::load(path, dev);
  clip_tokenizer tokenizer = clip_tokenizer::from_file(find_clip_vocab(args.clip_vocab, args.model_dir));

  txt2img_request req;
  req.prompt = "a photograph of an astronaut riding a horse, (highly detailed:1.2)";
  req.seed = 1234;
  req.steps = args.batch_steps;
  req.width = req.height = args.batch_image;
  req.sampler_name = "Euler";
  const int target = static_cast<int>(args.batch_image * args.hires_scale);
  spdlog::info("bench --hires: {}x{} → {}x{}, {} + {} steps, Euler, {} ({} threads)", req.width, req.height, target,
               target, req.steps, req.steps, path, at::get_num_threads());

  // The first pass alone (txt2img with its decode), then the whole hires job: the difference is
  // the second pass (upscale, its sampling and the decode at the target size).
  const double first = median_seconds(args.repeats, [&] { run_txt2img(*model, tokenizer, req, {}); });
  req.enable_hr = true;
  req.hr_scale = args.hires_scale;
  req.denoising_strength = 0.5;
  req.hr_upscaler = args.hires_upscaler;
  const double whole = median_seconds(args.repeats, [&] { run_txt2img(*model, tokenizer, req, {}); });
  spdlog::info("{:<34} {:9.3f} s", "first pass (txt2img + decode)", first);
  spdlog::info("{:<34} {:9.3f} s", "hires job (both passes)", whole);
  spdlog::info("{:<34} {:9.3f} s", "second pass (" + args.hires_upscaler + ")", whole - first);
  spdlog::info("{:<34} {:9.2f} x", "second pass / first pass", (whole - first) / first);
  if (!args.json_out.empty()) {
    std::ofstream out(args.json_out);
    out << "{\"first_pass\": " << first << ", \"hires_job\": " << whole << ", \"second_pass\": " << whole - first
        << ", \"size\": " << args.batch_image << ", \"target\": " << target << ", \"steps\": " << args.batch_steps
        << "}\n";
  }
  return 0;
}

} // namespace sdw
