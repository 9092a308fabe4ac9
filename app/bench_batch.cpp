#include "app/bench_command.hpp"

#include "runtime/engine/clip_tokenizer.hpp"
#include "runtime/base/errors.hpp"
#include "app/generate_command.hpp"
#include "runtime/engine/make_model.hpp"
#include "runtime/engine/sd_model.hpp"
#include "runtime/engine/txt2img.hpp"
#include "runtime/engine/txt2img_batch.hpp"

#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>

namespace fs = std::filesystem;

namespace sdw {

int run_batch_bench(const bench_args& args) {
  std::string path = args.model;
  if (path.empty()) {
    path = (fs::path(args.model_dir) / "sdworker-tiny-f32.safetensors").string();
    if (!fs::exists(path)) {
      fs::create_directories(args.model_dir);
      make_model(model_preset::tiny, st_dtype::f32, 7, path);
    }
  }
  device_options dev{args.device == "auto" && args.model.empty() ? "cpu" : args.device, args.dtype};
  auto model = sd_model::load(path, dev);
  clip_tokenizer tokenizer = clip_tokenizer::from_file(find_clip_vocab(args.clip_vocab, args.model_dir));
  const int size = args.batch_image;

  std::vector<batch_member> members;
  for (int i = 0; i < args.batch; ++i) {
    batch_member m;
    m.request.prompt = "a photograph of subject " + std::to_string(i) + ", (highly detailed:1.2)";
    m.request.negative_prompt = i % 2 ? "blurry" : "";
    m.request.seed = 1000 + i;
    m.request.cfg_scale = 5.0 + i;
    m.request.steps = args.batch_steps;
    m.request.width = size;
    m.request.height = size;
    m.request.sampler_name = "Euler a";
    members.push_back(std::move(m));
  }
  spdlog::info("bench --batch: {} requests of {}x{}, {} steps, Euler a, {} ({} threads)", args.batch, size, size,
               args.batch_steps, path, at::get_num_threads());
  const double singles = median_seconds(args.repeats, [&] {
    for (const auto& m : members) {
      run_txt2img(*model, tokenizer, m.request, m.opts);
    }
  });
  const double batched = median_seconds(args.repeats, [&] {
    for (const auto& o : run_txt2img_batch(*model, tokenizer, members)) {
      if (!o.ok()) {
        throw *o.failure;
      }
    }
  });
  spdlog::info("{:<34} {:9.3f} s", std::to_string(args.batch) + " singles", singles);
  spdlog::info("{:<34} {:9.3f} s", "batch of " + std::to_string(args.batch), batched);
  spdlog::info("{:<34} {:9.2f} x", "gain (singles / batch)", singles / batched);
  if (!args.json_out.empty()) {
    std::ofstream out(args.json_out);
    out << "{\"singles\": " << singles << ", \"batch\": " << batched << ", \"members\": " << args.batch << "}\n";
  }
  return 0;
}

} // namespace sdw
