#include "app/bench_command.hpp"

#include "runtime/engine/clip_tokenizer.hpp"
#include "runtime/engine/conditioning.hpp"
#include "runtime/engine/cuda_devices.hpp"
#include "app/generate_command.hpp"
#include "runtime/engine/lora_apply.hpp"
#include "runtime/engine/lora_keys.hpp"
#include "runtime/engine/make_lora.hpp"
#include "runtime/engine/make_model.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/base/png_codec.hpp"
#include "runtime/engine/sd_model.hpp"
#include "runtime/engine/sdxl_conditioning.hpp"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>

namespace fs = std::filesystem;

namespace sdw {
namespace {

/// Reads a file to the end so that it is in the page cache.
void read_through(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> block(1 << 20);
  while (in.read(block.data(), static_cast<std::streamsize>(block.size())) || in.gcount() > 0) {
  }
}

} // namespace

double median_seconds(int repeats, const std::function<void()>& fn) {
  fn();
  std::vector<double> times;
  for (int i = 0; i < std::max(1, repeats); ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

std::optional<model_preset> preset_of(const model_config& config) {
  for (model_preset candidate : {model_preset::tiny, model_preset::sd15, model_preset::sd2_tiny, model_preset::sd2,
                                 model_preset::sdxl_tiny, model_preset::sdxl}) {
    const model_config c = preset_config(candidate);
    if (c.unet == config.unet && c.text == config.text) return candidate;
  }
  return std::nullopt;
}

std::string bench_model(const bench_args& args) {
  if (!args.model.empty()) {
    return args.model;
  }
  const std::string path = (fs::path(args.model_dir) / "sdworker-sd15-random-f16.safetensors").string();
  if (!fs::exists(path)) {
    spdlog::info("making the sd15-size random checkpoint {}", path);
    fs::create_directories(args.model_dir);
    make_model(model_preset::sd15, st_dtype::f16, 0, path);
  }
  return path;
}

int run_bench(const bench_args& args) {
  if (args.batch > 0) {
    return run_batch_bench(args);
  }
  if (args.model_switch) {
    return run_switch_bench(args);
  }
  if (args.hires) {
    return run_hires_bench(args);
  }
  c10::InferenceMode guard;
  const std::string path = bench_model(args);
  std::vector<std::pair<std::string, double>> figures;
  auto record = [&](const std::string& name, double value, const char* unit = "s") {
    figures.emplace_back(name, value);
    spdlog::info("{:<48} {:9.4f} {}", name, value, unit);
  };
  spdlog::info("bench: {} ({} threads)", path, at::get_num_threads());

  device_options dev{args.device, args.dtype};
  dev.keep_file_dtype = !args.widen_weights;
  dev.memory_format = args.memory_format;
  dev.cuda_graphs = args.cuda_graphs;
  // The file is read once first so both loads find it in the page cache. The first load also
  // pays for fresh process memory; the reload reuses it, as a worker switching models does.
  read_through(path);
  auto t0 = std::chrono::steady_clock::now();
  auto model = sd_model::load(path, dev);
  record("checkpoint to ready, first load", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  model->sha256();  // the hash runs after ready; let it finish before timing the reload
  model.reset();
  t0 = std::chrono::steady_clock::now();
  model = sd_model::load(path, dev);
  record("checkpoint to ready, reload", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  if (!args.cudnn_benchmark) {
    at::globalContext().setBenchmarkCuDNN(false);  // loading turns it on for CUDA
  }

  clip_tokenizer tokenizer = clip_tokenizer::from_file(find_clip_vocab(args.clip_vocab, args.model_dir));
  const std::vector<std::string> texts{"a photograph of an astronaut riding a horse, (highly detailed:1.2)", ""};
  at::Tensor cond;
  at::Tensor pooled;  // SDXL: bigG's pooled text, for the `y` vector
  if (const text_encoder* bigg = model->text2()) {
    // SDXL encodes each text with both encoders (an empty negative is zeros, so it is not timed apart).
    record("text encode (prompt + negative)", median_seconds(args.repeats, [&] {
             sdxl_text_cond c = encode_sdxl_texts(model->text(), *bigg, tokenizer, prompt_settings{}, texts, false);
             cond = c.crossattn;
             pooled = c.pooled;
           }));
  } else {
    prompt_encoder encoder(model->text(), tokenizer, prompt_settings{});
    record("text encode (prompt + negative)", median_seconds(args.repeats, [&] { cond = encoder.encode(texts); }));
  }
  // SDXL's UNet also takes the `y` vector of the pooled text and the image size.
  const auto label = [&](int size, int rows) {
    if (!pooled.defined()) {
      return at::Tensor();
    }
    return sdxl_vector(pooled, sdxl_sizes{size, size, 0, 0}, model->placement().dtype).repeat({rows / 2, 1});
  };

  // The cost a LoRA adds to a job: merging it into both networks and swapping the originals back,
  // for a model of one of make-model's presets (the LoCon is made for its layers).
  const std::optional<model_preset> preset = preset_of(model->config());
  if (args.lora_rank > 0 && preset) {
    const std::string lora_path = (fs::path(args.model_dir) / ("sdworker-" + std::string(to_string(*preset)) + "-locon-r" +
                                                                std::to_string(args.lora_rank) + ".safetensors"))
                                    .string();
    if (!fs::exists(lora_path)) {
      make_lora(*preset, lora_kind::locon, args.lora_rank, st_dtype::f16, 0, lora_path);
    }
    const lora_set set{{load_lora_network(lora_path, lora_layers(model->config())), 1.0, 1.0, std::nullopt}};
    lora_patcher patcher(*model);
    record("LoCon r" + std::to_string(args.lora_rank) + " merge, " + std::to_string(set[0].network->modules.size()) + " layers",
           median_seconds(args.repeats, [&] {
             patcher.restore();
             patcher.apply(set, lora_part::text);
             patcher.apply(set, lora_part::unet);
           }));
    const auto t_restore = std::chrono::steady_clock::now();
    patcher.restore();
    record("LoCon restore", std::chrono::duration<double>(std::chrono::steady_clock::now() - t_restore).count());
  }

  const auto& p = model->placement();
  const bool cuda = p.device.is_cuda();
  const int cuda_index = std::max<int>(0, p.device.index());  // "cuda" names device 0
  if (cuda) {
    reset_cuda_memory_peak(cuda_index);
  }
  auto opts = at::TensorOptions().device(p.device).dtype(at::kFloat);
  // One sampling step of `batch` images: CFG runs the UNet on twice as many rows.
  const auto time_steps = [&](const std::string& suffix) {
    for (int size : args.sizes) {
      for (int batch : args.step_batches) {
        if (size > 512 && batch > 1) {
          continue;
        }
        auto x = at::randn({2 * batch, model->config().unet.in_channels, size / 8, size / 8}, opts);
        auto t = at::full({2 * batch}, 500.0, opts);
        auto context = cond.repeat({batch, 1, 1});
        auto y = label(size, 2 * batch);
        const std::string name = "unet step " + std::to_string(size) + "x" + std::to_string(size) + " batch " +
                                 std::to_string(batch) + " (CFG)" + suffix;
        const auto step = [&] { model->unet().forward(x, t, context, y, args.token_merging).sum().item<float>(); };
        // A new shape's first step pays for cuDNN's algorithm search and the graph's capture.
        const auto t_first = std::chrono::steady_clock::now();
        step();
        record(name + ", first call", std::chrono::duration<double>(std::chrono::steady_clock::now() - t_first).count());
        record(name, median_seconds(args.repeats, step));
      }
    }
  };
  const std::string merging = args.token_merging > 0 ? ", token merging " + python_float_repr(args.token_merging) : "";
  time_steps((model->unet().graphs_on() && args.token_merging <= 0 ? ", CUDA graphs" : "") + merging);
  if (cuda) {
    // What a job needs, once cuDNN's benchmark (which tries algorithms with huge workspaces) is done.
    const cuda_memory tuning = cuda_memory_of(cuda_index);
    record("peak CUDA memory while tuning (GiB)", static_cast<double>(tuning.peak_allocated) / (1 << 30), "GiB");
    release_cuda_cache();
    reset_cuda_memory_peak(cuda_index);
    auto x = at::randn({2, model->config().unet.in_channels, 64, 64}, opts);
    auto t = at::full({2}, 500.0, opts);
    model->unet().forward(x, t, cond, label(512, 2)).sum().item<float>();
    const cuda_memory step = cuda_memory_of(cuda_index);
    record("peak CUDA memory, 512x512 step (GiB)", static_cast<double>(step.peak_allocated) / (1 << 30), "GiB");
    record("CUDA memory held after it (GiB)", static_cast<double>(step.reserved) / (1 << 30), "GiB");
  }
  if (model->unet().graphs_on()) {
    model->unet().use_graphs(false);
    time_steps(", no graphs");
    model->unet().use_graphs(true);
  }
  for (int size : args.sizes) {
    auto z = at::randn({1, 4, size / 8, size / 8}, opts);
    record("vae decode " + std::to_string(size) + "x" + std::to_string(size),
           median_seconds(std::min(args.repeats, 2), [&] { model->vae().decode(z).sum().item<float>(); }));
  }
  if (cuda) {
    const cuda_memory memory = cuda_memory_of(cuda_index);
    record("peak CUDA memory after the steps (GiB)", static_cast<double>(memory.peak_allocated) / (1 << 30), "GiB");
  }
  std::vector<uint8_t> pixels(512 * 512 * 3);
  for (size_t i = 0; i < pixels.size(); ++i) {
    pixels[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
  }
  record("png encode 512x512", median_seconds(args.repeats, [&] {
           encode_png(pixels.data(), 512, 512, {{"parameters", "a photograph\nSteps: 20, Sampler: Euler"}});
         }));

  if (!args.json_out.empty()) {
    std::ofstream out(args.json_out);
    out << "{";
    for (size_t i = 0; i < figures.size(); ++i) {
      out << (i ? ", " : "") << '"' << figures[i].first << "\": " << figures[i].second;
    }
    out << "}\n";
  }
  return 0;
}

} // namespace sdw
