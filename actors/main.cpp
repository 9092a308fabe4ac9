// sdworker: the program. Subcommands run the engine directly (generate, make-model, bench) or serve
// it through the actors: over HTTP (api) or as a RunPod serverless worker (serve).

#include "actors/api_command.hpp"
#include "actors/serve_command.hpp"
#include "runtime/bench_command.hpp"
#include "runtime/errors.hpp"
#include "runtime/generate_command.hpp"
#include "runtime/make_model.hpp"
#include "runtime/memory_tuning.hpp"

#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <thread>

namespace {

/// libtorch sees one core on some VMs unless told; use them all unless OMP_NUM_THREADS says.
void set_threads(int requested) {
  int n = requested;
  if (n <= 0) {
    const char* env = std::getenv("OMP_NUM_THREADS");
    n = env != nullptr ? std::atoi(env) : static_cast<int>(std::thread::hardware_concurrency());
  }
  if (n > 0) {
    at::set_num_threads(n);
  }
}

} // namespace

int main(int argc, char** argv) {
  sdw::keep_freed_memory();
  CLI::App app{"sdworker: a native Stable Diffusion worker (A1111 API, RunPod protocol)"};
  app.require_subcommand(1);
  int threads = 0;
  app.add_option("--threads", threads, "CPU threads for libtorch (default: all cores)");

  sdw::generate_args gen;
  auto* generate = app.add_subcommand("generate", "run one txt2img request and write PNGs + response.json");
  generate->add_option("--model", gen.model, "checkpoint (.safetensors); default: the tiny random-weight demo model");
  generate->add_option("--model-dir", gen.model_dir, "models folder (demo model, clip/ tokenizer)")->capture_default_str();
  generate->add_option("--input", gen.input, "A1111 txt2img JSON or a RunPod job {\"input\": {...}}")->required();
  generate->add_option("--out", gen.out_dir, "output folder")->required();
  generate->add_option("--dump-latent", gen.dump_latent, "write the final latent (before VAE decode) as .npy");
  generate->add_option("--device", gen.device, "auto, cpu, cuda, cuda:N")->capture_default_str();
  generate->add_option("--dtype", gen.dtype, "auto, f32, f16, bf16")->capture_default_str();
  generate->add_option("--clip-vocab", gen.clip_vocab, "CLIP bpe_simple_vocab_16e6.txt.gz");
  generate->add_flag("--widen-weights", gen.widen_weights,
                     "CPU: widen fp16 weights to float32 at load (slower load, faster steps)");

  std::string preset = "tiny", dtype = "f16", out;
  uint64_t seed = 0;
  auto* make = app.add_subcommand("make-model", "write a random-weight SD1.x checkpoint in A1111's key layout");
  make->add_option("--preset", preset, "tiny or sd15")->check(CLI::IsMember({"tiny", "sd15"}))->capture_default_str();
  make->add_option("--dtype", dtype, "f16 or f32")->check(CLI::IsMember({"f16", "f32"}))->capture_default_str();
  make->add_option("--seed", seed, "random seed")->capture_default_str();
  make->add_option("out", out, "output .safetensors")->required();

  sdw::bench_args bench;
  auto* bench_cmd = app.add_subcommand("bench", "time model load, text encode, UNet steps, VAE decode, PNG encode");
  bench_cmd->add_option("--model", bench.model, "checkpoint; default: make an sd15-size random one in --model-dir");
  bench_cmd->add_option("--model-dir", bench.model_dir, "where the random checkpoint is kept")->capture_default_str();
  bench_cmd->add_option("--sizes", bench.sizes, "image sizes for UNet steps")->capture_default_str();
  bench_cmd->add_option("--repeats", bench.repeats, "timed repeats per measure")->capture_default_str();
  bench_cmd->add_option("--device", bench.device, "auto, cpu, cuda")->capture_default_str();
  bench_cmd->add_option("--dtype", bench.dtype, "auto, f32, f16, bf16")->capture_default_str();
  bench_cmd->add_option("--clip-vocab", bench.clip_vocab, "CLIP bpe_simple_vocab_16e6.txt.gz");
  bench_cmd->add_option("--json", bench.json_out, "also write the figures as JSON");
  bench_cmd->add_flag("--widen-weights", bench.widen_weights, "CPU: widen fp16 weights to float32 at load");

  sdw::api_args api;
  auto* api_cmd = app.add_subcommand("api", "serve the A1111 API and a RunPod-style test API over HTTP");
  api_cmd->add_option("--port", api.port, "TCP port")->capture_default_str();
  api_cmd->add_option("--host", api.host, "address to listen on")->capture_default_str();
  api_cmd->add_option("--model", api.model, "checkpoint (.safetensors); default: the tiny random-weight demo model");
  api_cmd->add_option("--model-dir", api.model_dir, "models folder (demo model, clip/ tokenizer)")->capture_default_str();
  api_cmd->add_option("--clip-vocab", api.clip_vocab, "CLIP bpe_simple_vocab_16e6.txt.gz");
  api_cmd->add_option("--device", api.device, "auto, cpu, cuda, cuda:N")->capture_default_str();
  api_cmd->add_option("--dtype", api.dtype, "auto, f32, f16, bf16")->capture_default_str();
  api_cmd->add_option("--queue-size", api.queue_size, "jobs that may wait; more get HTTP 503")->capture_default_str();

  sdw::serve_args serve;
  auto* serve_cmd = app.add_subcommand(
    "serve", "RunPod serverless worker: take jobs from RUNPOD_WEBHOOK_GET_JOB; without it, run one test job");
  serve_cmd->add_option("--model", serve.model, "checkpoint (.safetensors); default: the tiny random-weight demo model");
  serve_cmd->add_option("--model-dir", serve.model_dir, "models folder (demo model, clip/ tokenizer)")->capture_default_str();
  serve_cmd->add_option("--clip-vocab", serve.clip_vocab, "CLIP bpe_simple_vocab_16e6.txt.gz");
  serve_cmd->add_option("--device", serve.device, "auto, cpu, cuda, cuda:N")->capture_default_str();
  serve_cmd->add_option("--dtype", serve.dtype, "auto, f32, f16, bf16")->capture_default_str();
  serve_cmd->add_option("--queue-size", serve.queue_size, "jobs that may wait at the scheduler")->capture_default_str();
  serve_cmd->add_option("--test-input", serve.test_input,
                        "run this job once ({\"input\": {...}}: a file, or the JSON itself), print the result, exit "
                        "(default: ./test_input.json when RUNPOD_WEBHOOK_GET_JOB is unset)");

  CLI11_PARSE(app, argc, argv);
  set_threads(threads);

  try {
    if (generate->parsed()) {
      return sdw::run_generate(gen);
    }
    if (make->parsed()) {
      sdw::make_model(preset == "sd15" ? sdw::model_preset::sd15 : sdw::model_preset::tiny,
                      dtype == "f32" ? sdw::st_dtype::f32 : sdw::st_dtype::f16, seed, out);
      spdlog::info("wrote {} ({} preset, {})", out, preset, dtype);
      return 0;
    }
    if (bench_cmd->parsed()) {
      return sdw::run_bench(bench);
    }
    if (api_cmd->parsed()) {
      return sdw::run_api(api);
    }
    if (serve_cmd->parsed()) {
      serve.runpod = sdw::runpod_settings_from_env([](const char* name) { return std::getenv(name); });
      return sdw::run_serve(serve);
    }
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  return 0;
}
