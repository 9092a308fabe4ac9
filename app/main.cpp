// sdworker: the program. Subcommands run the engine directly (generate, make-model, bench) or serve
// it through the actors: over HTTP (api) or as a RunPod serverless worker (serve).

#include "app/api_command.hpp"
#include "app/config_file.hpp"
#include "app/executor_host_command.hpp"
#include "app/serve_command.hpp"
#include "runtime/sim/sim_session.hpp"
#include "app/bench_command.hpp"
#include "app/build_info.hpp"
#include "runtime/base/errors.hpp"
#include "app/generate_command.hpp"
#include "runtime/engine/make_embedding.hpp"
#include "runtime/engine/make_lora.hpp"
#include "runtime/engine/make_model.hpp"
#include "runtime/base/memory_tuning.hpp"
#include "runtime/runpod/runpod_log.hpp"

#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <thread>
#include <utility>
#include <vector>

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
  app.set_version_flag("--version", [] { return sdw::build_info(); });
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
  generate->add_flag("!--no-cuda-graphs", gen.cuda_graphs, "CUDA: run the UNet step without CUDA graphs");
  generate->add_option("--clip-vocab", gen.clip_vocab, "CLIP bpe_simple_vocab_16e6.txt.gz");
  generate->add_option("--embeddings-dir", gen.embeddings_dir, "folder of textual-inversion embeddings the prompts name")
    ->capture_default_str();
  generate->add_option("--lora-dir", gen.lora_dir, "folder of LoRA files the prompt's <lora:name:weight> tags name")
    ->capture_default_str();
  generate->add_flag("--widen-weights", gen.widen_weights,
                     "CPU: widen fp16 weights to float32 at load (slower load, faster steps)");

  std::string preset = "tiny", dtype = "f16", out;
  uint64_t seed = 0;
  auto* make = app.add_subcommand("make-model", "write a random-weight SD1.x, SD2.x or SDXL checkpoint in A1111's key layout");
  make->add_option("--preset", preset, "tiny, sd15, sd2-tiny, sd2, sdxl-tiny or sdxl")
    ->check(CLI::IsMember({"tiny", "sd15", "sd2-tiny", "sd2", "sdxl-tiny", "sdxl"}))
    ->capture_default_str();
  make->add_option("--dtype", dtype, "f16 or f32")->check(CLI::IsMember({"f16", "f32"}))->capture_default_str();
  make->add_option("--seed", seed, "random seed")->capture_default_str();
  bool inpainting = false;
  make->add_flag("--inpainting", inpainting, "an inpainting checkpoint (9-channel UNet input, as sd-v1-5-inpainting)");
  bool v_prediction = false;
  make->add_flag("--v-prediction", v_prediction,
                 "a v-prediction model (writes <stem>.yaml with parameterization \"v\" beside it)");
  make->add_option("out", out, "output .safetensors")->required();

  std::string lora_preset = "tiny", lora_kind = "lora", lora_dtype = "f16", lora_out;
  int lora_rank = 4;
  uint64_t lora_seed = 0;
  auto* make_lora = app.add_subcommand("make-lora", "write a random-weight LoRA, LoCon or LyCORIS file in the kohya-ss key layout");
  make_lora->add_option("--preset", lora_preset, "the make-model preset of the model it fits")
    ->check(CLI::IsMember({"tiny", "sd15", "sd2-tiny", "sd2", "sdxl-tiny", "sdxl"}))->capture_default_str();
  make_lora->add_option("--kind", lora_kind,
                        "lora (attention, feed-forward, text encoder), locon (also convolutions), the LyCORIS "
                        "loha, lokr, full (the locon layers) or norm (GroupNorm/LayerNorm layers)")
    ->check(CLI::IsMember({"lora", "locon", "loha", "lokr", "full", "norm"}))->capture_default_str();
  make_lora->add_option("--rank", lora_rank, "rank of the factors (alpha = rank / 2)")->capture_default_str();
  make_lora->add_option("--dtype", lora_dtype, "f16 or f32")->check(CLI::IsMember({"f16", "f32"}))->capture_default_str();
  make_lora->add_option("--seed", lora_seed, "random seed")->capture_default_str();
  make_lora->add_option("out", lora_out, "output .safetensors (put it in the Lora folder)")->required();

  std::string emb_preset = "tiny", emb_out;
  int64_t emb_width = 0;
  int emb_vectors = 1;
  uint64_t emb_seed = 0;
  auto* make_emb = app.add_subcommand("make-embedding", "write a random textual-inversion embedding (.safetensors)");
  make_emb->add_option("--preset", emb_preset, "the make-model preset whose text encoders it fits (SDXL: a clip_l/clip_g pair)")
    ->check(CLI::IsMember({"tiny", "sd15", "sd2-tiny", "sd2", "sdxl-tiny", "sdxl"}))->capture_default_str();
  make_emb->add_option("--width", emb_width, "vector width instead of the preset's (another width is listed as skipped)");
  make_emb->add_option("--vectors", emb_vectors, "token positions it takes in a prompt (1..75)")->capture_default_str();
  make_emb->add_option("--seed", emb_seed, "random seed")->capture_default_str();
  make_emb->add_option("out", emb_out, "output .safetensors (put it in the embeddings folder; its file stem is its name)")
    ->required();

  sdw::bench_args bench;
  auto* bench_cmd = app.add_subcommand("bench", "time model load, text encode, UNet steps, VAE decode, PNG encode");
  bench_cmd->add_option("--model", bench.model, "checkpoint; default: make an sd15-size random one in --model-dir");
  bench_cmd->add_option("--model-dir", bench.model_dir, "where the random checkpoint is kept")->capture_default_str();
  bench_cmd->add_option("--sizes", bench.sizes, "image sizes for UNet steps")->capture_default_str();
  bench_cmd->add_option("--step-batches", bench.step_batches, "images per timed UNet step (CFG: twice as many rows)")
    ->capture_default_str();
  bench_cmd->add_flag("!--no-cuda-graphs", bench.cuda_graphs, "CUDA: time the steps without CUDA graphs only");
  bench_cmd->add_flag("!--no-cudnn-benchmark", bench.cudnn_benchmark,
                      "CUDA: cuDNN's heuristics pick the convolution algorithms instead of timing them per shape");
  bench_cmd->add_option("--repeats", bench.repeats, "timed repeats per measure")->capture_default_str();
  bench_cmd->add_option("--device", bench.device, "auto, cpu, cuda")->capture_default_str();
  bench_cmd->add_option("--dtype", bench.dtype, "auto, f32, f16, bf16")->capture_default_str();
  bench_cmd->add_option("--clip-vocab", bench.clip_vocab, "CLIP bpe_simple_vocab_16e6.txt.gz");
  bench_cmd->add_option("--json", bench.json_out, "also write the figures as JSON");
  bench_cmd->add_flag("--widen-weights", bench.widen_weights, "CPU: widen fp16 weights to float32 at load");
  bench_cmd->add_option("--lora-rank", bench.lora_rank,
                        "also time merging a LoCon of this rank (made for the model's make-model preset) and restoring it; 0 = not")
    ->capture_default_str();
  bench_cmd->add_option("--memory-format", bench.memory_format, "channels_last or contiguous")
    ->capture_default_str();
  bench_cmd->add_option("--token-merging", bench.token_merging,
                        "time the UNet steps with A1111's token merging at this ratio (0 to 0.9)")
    ->check(CLI::Range(0.0, 0.9))
    ->capture_default_str();
  bench_cmd->add_option("--batch", bench.batch,
                        "instead: N txt2img requests as one batch against N singles (tiny model unless --model)");
  bench_cmd->add_option("--batch-steps", bench.batch_steps, "sampler steps per request for --batch")
      ->capture_default_str();
  bench_cmd->add_option("--batch-image", bench.batch_image, "image size (px) for --batch and --hires")->capture_default_str();
  bench_cmd->add_flag("--switch", bench.model_switch,
                      "time switching between two checkpoints: loaded from disk, and held in the model cache");
  bench_cmd->add_flag("--hires", bench.hires, "time hires fix's two passes (first pass --batch-image, --batch-steps each)");
  bench_cmd->add_option("--hires-scale", bench.hires_scale, "hr_scale for --hires")->capture_default_str();
  bench_cmd->add_option("--hires-upscaler", bench.hires_upscaler, "hr_upscaler for --hires")->capture_default_str();

  // `api` and `serve` take the worker configuration: flags are kept as (key, value) pairs and
  // applied after the INI file and the environment, so the command line always wins.
  std::string config_file;
  std::vector<std::pair<std::string, std::string>> cli_settings;
  auto setting = [&cli_settings](CLI::App* cmd, const std::string& flag, const std::string& key, const std::string& help) {
    cmd->add_option_function<std::string>(
      flag, [&cli_settings, key](const std::string& v) { cli_settings.emplace_back(key, v); }, help + " [" + key + "]");
  };
  auto model_settings = [&](CLI::App* cmd) {
    cmd->add_option("--config", config_file, "INI file (default: $SDWORKER_CONFIG, else conf/sdworker.ini if present)");
    setting(cmd, "--model", "model.checkpoint", "checkpoint (.safetensors); default: the tiny random-weight demo model");
    setting(cmd, "--model-dir", "model.dir", "models folder (demo model, clip/ tokenizer)");
    setting(cmd, "--clip-vocab", "model.clip-vocab", "CLIP bpe_simple_vocab_16e6.txt.gz");
    setting(cmd, "--lora-dir", "model.lora-dir", "folder of LoRA files that prompts' <lora:name:weight> tags name");
    setting(cmd, "--model-url", "model.url", "fetch the checkpoint from this http(s) URL at start (resumed, checked)");
    setting(cmd, "--model-sha256", "model.sha256", "the sha256 the file from --model-url must have");
    setting(cmd, "--model-cache-mb", "model.cache-mb", "MiB of weights each device keeps for the checkpoints jobs name");
    setting(cmd, "--embeddings-dir", "model.embeddings-dir", "folder of textual-inversion embeddings that prompts name");
    setting(cmd, "--esrgan-dir", "model.esrgan-dir", "folder of ESRGAN upscaler files (R-ESRGAN ones in RealESRGAN beside it)");
    setting(cmd, "--device", "model.device", "auto, cpu, cuda, cuda:N");
    setting(cmd, "--dtype", "model.dtype", "auto, f32, f16, bf16");
    setting(cmd, "--queue-size", "queue.size", "jobs that may wait; more are refused");
    setting(cmd, "--devices", "model.devices", "one executor per device: auto, cpu or CUDA ordinals 0,1");
    setting(cmd, "--simulate", "model.simulate", "N simulated devices (cost model, no model) instead of the model");
    setting(cmd, "--simulate-speeds", "model.simulate-speeds", "speed factor per simulated device, e.g. 1,1,2");
    setting(cmd, "--simulate-time-scale", "model.simulate-time-scale", "simulated time per real time, e.g. 0.01");
    setting(cmd, "--max-batch", "queue.max-batch", "images per batch across requests; 1 = no batching");
    setting(cmd, "--log-format", "log.format", "auto (JSON lines when RUNPOD_ENDPOINT_ID is set), text or json");
    setting(cmd, "--log-level", "log.level", "trace, debug, info, warn or error");
  };
  auto* api_cmd = app.add_subcommand("api", "serve the A1111 API and a RunPod-style test API over HTTP");
  model_settings(api_cmd);
  setting(api_cmd, "--port", "http.port", "TCP port");
  setting(api_cmd, "--host", "http.host", "address to listen on");
  setting(api_cmd, "--api-auth", "http.api-auth", "HTTP basic auth on every route: user:pass[,user2:pass2]");
  setting(api_cmd, "--api-key", "http.api-key", "key taken as Authorization: Bearer <key> on every route");
  setting(api_cmd, "--health-access", "http.health-access", "open (no credentials for /health and /metrics) or auth");
  setting(api_cmd, "--max-body-mb", "http.max-body-mb", "largest request body in MiB; larger get HTTP 413");
  setting(api_cmd, "--styles-file", "http.styles-file", "A1111's styles.csv for /sdapi/v1/prompt-styles and png-info");

  std::string test_input;
  auto* serve_cmd = app.add_subcommand(
    "serve", "RunPod serverless worker: take jobs from RUNPOD_WEBHOOK_GET_JOB; without it, run one test job");
  model_settings(serve_cmd);
  setting(serve_cmd, "--concurrency", "runpod.concurrency",
          "jobs held at once (more than the devices lets batches form); 0 = one per device");
  setting(serve_cmd, "--api-port", "runpod.api-port",
          "also serve the local API (A1111 routes, /health, /metrics) on this port; 0 = none");
  setting(serve_cmd, "--host", "http.host", "address --api-port listens on");
  serve_cmd->add_option("--test-input", test_input,
                        "run this job once ({\"input\": {...}}: a file, or the JSON itself), print the result, exit "
                        "(default: ./test_input.json when RUNPOD_WEBHOOK_GET_JOB is unset)");

  sdw::sim_args sim;
  auto* sim_cmd = app.add_subcommand(
    "sim", "simulation: a RunPod control-plane emulator, K `serve --simulate 1` workers, load, faults, a report");
  sim_cmd->add_option("--workers", sim.workers, "worker processes")->capture_default_str();
  sim_cmd->add_option("--jobs", sim.jobs, "jobs to send")->capture_default_str();
  sim_cmd->add_option("--rate", sim.rate, "Poisson arrivals per second; 0 = closed loop")->capture_default_str();
  sim_cmd->add_option("--clients", sim.clients, "closed-loop clients (with --rate 0)")->capture_default_str();
  sim_cmd->add_option("--mix", sim.mix_file, "JSON request mix: [{\"weight\": w, \"input\": {...}}, ...]");
  sim_cmd->add_option("--seed", sim.seed, "random seed (load and faults)")->capture_default_str();
  sim_cmd->add_option("--time-scale", sim.time_scale, "simulated time per real time")->capture_default_str();
  sim_cmd->add_option("--concurrency", sim.concurrency, "jobs each worker holds at once; 0 = one per device")
    ->capture_default_str();
  sim_cmd->add_option("--max-batch", sim.max_batch, "images per batch across requests in each worker")
    ->capture_default_str();
  sim_cmd->add_option("--ping-ms", sim.ping_ms, "workers' RUNPOD_PING_INTERVAL")->capture_default_str();
  sim_cmd->add_option("--lost-after-ms", sim.lost_after_ms, "requeue a job its worker stopped showing; 0 = 4 pings")
    ->capture_default_str();
  sim_cmd->add_option("--take-wait-ms", sim.take_wait_ms, "job-take long poll")->capture_default_str();
  sim_cmd->add_option("--take-5xx", sim.faults.take_5xx, "job-take 503 rate")->capture_default_str();
  sim_cmd->add_option("--done-5xx", sim.faults.done_5xx, "job-done 500 rate")->capture_default_str();
  sim_cmd->add_option("--done-4xx", sim.faults.done_4xx, "rate of results refused with 400")->capture_default_str();
  sim_cmd->add_option("--restart-every", sim.restart_every_s, "seconds between control-plane restarts; 0 = none")
    ->capture_default_str();
  sim_cmd->add_option("--restart-down-ms", sim.restart_down_ms, "how long a restart refuses connections")
    ->capture_default_str();
  sim_cmd->add_option("--slow", sim.faults.slow, "rate of late worker-side answers")->capture_default_str();
  sim_cmd->add_option("--slow-ms", sim.faults.slow_ms, "how late")->capture_default_str();
  sim_cmd->add_option("--drop", sim.faults.drop, "rate of job-take/job-done closed without an answer")
    ->capture_default_str();
  sim_cmd->add_option("--reset", sim.faults.reset, "rate of job-take/job-done connection resets")->capture_default_str();
  sim_cmd->add_option("--duplicate", sim.faults.duplicate, "rate of jobs handed out twice")->capture_default_str();
  sim_cmd->add_option("--kill-after", sim.kill_after_s, "SIGKILL a worker holding a job after this many seconds")
    ->capture_default_str();
  sim_cmd->add_option("--timeout", sim.timeout_s, "seconds to wait for unfinished jobs")->capture_default_str();
  sim_cmd->add_option("--port", sim.port, "emulator port; 0 = any free one")->capture_default_str();
  sim_cmd->add_option("--out", sim.out, "report files: <out>.json, <out>.html, <out>-logs/")->capture_default_str();
  sim_cmd->add_option("--binary", sim.binary, "sdworker executable for the workers (default: this one)");

  auto* host_cmd = app.add_subcommand(
    "executor-host", "run jobs for a worker on another host: this device as a remote executor (CAF network layer)");
  model_settings(host_cmd);
  setting(host_cmd, "--port", "remote.port", "TCP port to listen on");
  setting(host_cmd, "--host", "remote.host", "address to listen on");
  for (auto* cmd : {api_cmd, serve_cmd}) {
    setting(cmd, "--remote-executors", "remote.executors",
            "host:port,... of `sdworker executor-host`s whose devices join this worker's (--devices none: only them)");
    setting(cmd, "--max-megapixel-steps", "queue.max-megapixel-steps",
            "most work one request may ask for: width x height x images x steps / 1e6");
  }

  CLI11_PARSE(app, argc, argv);

  sdw::worker_config config;
  if (api_cmd->parsed() || serve_cmd->parsed() || host_cmd->parsed()) {
    if (serve_cmd->parsed()) {
      // stdout carries only the local test's result; logs go to stderr.
      spdlog::set_default_logger(spdlog::stderr_color_mt("sdworker"));
    }
    try {
      std::string used;
      config = sdw::load_worker_config(config_file, used);
      for (const auto& [key, value] : cli_settings) {
        sdw::set_config_value(config, key, value, "--" + key.substr(key.find('.') + 1));
      }
      if (app.count("--threads") > 0) {
        config.threads = threads;
      }
      sdw::validate(config);
      if (sdw::json_logs(config)) {
        sdw::use_runpod_json_logs();
      }
      spdlog::set_level(spdlog::level::from_str(config.log_level));
      if (!used.empty()) {
        spdlog::info("configuration: {}", used);
      }
    } catch (const sdw::error& e) {
      spdlog::error("configuration: {}", e.what());
      return 2;
    }
    threads = config.threads;
  }
  set_threads(threads);

  try {
    if (generate->parsed()) {
      return sdw::run_generate(gen);
    }
    if (make->parsed()) {
      sdw::make_model(*sdw::parse_model_preset(preset), dtype == "f32" ? sdw::st_dtype::f32 : sdw::st_dtype::f16, seed,
                      out, inpainting, v_prediction);
      spdlog::info("wrote {} ({} preset{}{}, {})", out, preset, inpainting ? ", inpainting" : "",
                   v_prediction ? ", v-prediction" : "", dtype);
      return 0;
    }
    if (make_lora->parsed()) {
      sdw::make_lora(*sdw::parse_model_preset(lora_preset),
                     *sdw::parse_lora_kind(lora_kind), lora_rank,
                     lora_dtype == "f32" ? sdw::st_dtype::f32 : sdw::st_dtype::f16, lora_seed, lora_out);
      spdlog::info("wrote {} ({} for the {} preset, rank {}, {})", lora_out, lora_kind, lora_preset, lora_rank, lora_dtype);
      return 0;
    }
    if (make_emb->parsed()) {
      const sdw::model_config config = sdw::preset_config(*sdw::parse_model_preset(emb_preset));
      if (config.text2) {
        sdw::make_sdxl_embedding(config.text.width, config.text2->width, emb_vectors, emb_seed, emb_out);
        spdlog::info("wrote {} ({} vectors, clip_l {} and clip_g {} wide)", emb_out, emb_vectors, config.text.width,
                     config.text2->width);
        return 0;
      }
      const int64_t width = emb_width > 0 ? emb_width : config.text.width;
      sdw::make_embedding(width, emb_vectors, emb_seed, emb_out);
      spdlog::info("wrote {} ({} vectors of width {})", emb_out, emb_vectors, width);
      return 0;
    }
    if (bench_cmd->parsed()) {
      return sdw::run_bench(bench);
    }
    if (api_cmd->parsed()) {
      return sdw::run_api(config);
    }
    if (serve_cmd->parsed()) {
      return sdw::run_serve(config, test_input);
    }
    if (sim_cmd->parsed()) {
      sim.faults.seed = sim.seed;
      return sdw::run_sim(sim);
    }
    if (host_cmd->parsed()) {
      return sdw::run_executor_host(config);
    }
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  return 0;
}
