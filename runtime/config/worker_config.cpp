#include "runtime/config/worker_config.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/config/executor_devices.hpp"
#include "runtime/storage/s3_storage.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <optional>
#include <string>
#include <charconv>
#include <cstdlib>
#include <variant>

namespace sdw {
namespace {

using string_field = std::string worker_config::*;
using int_field = int worker_config::*;

/// A key of config_keys() and the member it sets.
struct key_binding {
  config_key key;
  std::variant<string_field, int_field> field;
};

const std::vector<key_binding>& bindings() {
  static const std::vector<key_binding> table = {
    {{"model.dir", "SDWORKER_MODEL_DIR", false,
      "models folder as A1111 lays it out (Stable-diffusion/, VAE/, Lora/, ...), the demo model and clip/"},
     &worker_config::model_dir},
    {{"model.checkpoint", "SDWORKER_MODEL", false,
      "checkpoint to load (.safetensors); empty = the tiny random-weight demo model"},
     &worker_config::checkpoint},
    {{"model.url", "SDWORKER_MODEL_URL", true,
      "http(s) URL of a .safetensors checkpoint fetched at start into <model.dir>/Stable-diffusion (or to model.checkpoint), resumed and checked; the worker is unhealthy until it is in place"},
     &worker_config::model_url},
    {{"model.sha256", "SDWORKER_MODEL_SHA256", false,
      "sha256 (hex) the file from model.url must have; a different file is never loaded"},
     &worker_config::model_sha256},
    {{"model.clip-vocab", "SDWORKER_CLIP_VOCAB", false,
      "CLIP bpe_simple_vocab_16e6.txt.gz; empty = <model.dir>/clip or ../shared/clip"},
     &worker_config::clip_vocab},
    {{"model.lora-dir", "SDWORKER_LORA_DIR", false,
      "folder of LoRA / LoCon .safetensors files, named in prompts as <lora:file name without extension:weight>; empty = <model.dir>/Lora"},
     &worker_config::lora_dir},
    {{"model.cache-mb", "SDWORKER_MODEL_CACHE_MB", false,
      "MiB of weights each device may keep for the checkpoints jobs name (least recently used go first)"},
     &worker_config::model_cache_mb},
    {{"model.embeddings-dir", "SDWORKER_EMBEDDINGS_DIR", false,
      "folder of textual-inversion embeddings (.safetensors, .pt, .bin), named in prompts by file name without extension; empty = <model.dir>/embeddings"},
     &worker_config::embeddings_dir},
    {{"model.esrgan-dir", "SDWORKER_ESRGAN_DIR", false,
      "folder of ESRGAN upscaler files (.pth, .pt, .safetensors), named by file name without extension; "
      "the R-ESRGAN models (RealESRGAN_x4plus.pth, ...) are read from the RealESRGAN folder beside it; empty = <model.dir>/ESRGAN"},
     &worker_config::esrgan_dir},
    {{"model.device", "SDWORKER_DEVICE", false, "auto, cpu, cuda or cuda:N"}, &worker_config::device},
    {{"model.dtype", "SDWORKER_DTYPE", false, "auto, f32, f16 or bf16"}, &worker_config::dtype},
    {{"model.threads", "SDWORKER_THREADS", false, "CPU threads for libtorch; 0 = all cores"},
     &worker_config::threads},
    {{"model.devices", "SDWORKER_DEVICES", false,
      "one executor per device: empty = model.device; auto = every CUDA device, else cpu; cpu; CUDA ordinals \"0,1\"; none (remote executors only)"},
     &worker_config::devices},
    {{"model.simulate", "SDWORKER_SIMULATE", false,
      "N > 0: N simulated devices (cost model's time, flat images, no model) instead of the model"},
     &worker_config::simulate},
    {{"model.simulate-speeds", "SDWORKER_SIMULATE_SPEEDS", false,
      "speed factor of each simulated device, e.g. \"1,1,2\" (cycled); empty = all 1"},
     &worker_config::simulate_speeds},
    {{"model.simulate-time-scale", "SDWORKER_SIMULATE_TIME_SCALE", false,
      "simulated time per real time: 0.01 = a 1 s job takes 10 ms"},
     &worker_config::simulate_time_scale},
    {{"remote.executors", "SDWORKER_REMOTE_EXECUTORS", false,
      "host:port,... of `sdworker executor-host`s whose devices join this worker's (model.devices = none: only them)"},
     &worker_config::remote_executors},
    {{"remote.host", "SDWORKER_REMOTE_HOST", false, "address `sdworker executor-host` listens on"},
     &worker_config::remote_host},
    {{"remote.port", "SDWORKER_REMOTE_PORT", false, "TCP port `sdworker executor-host` listens on"},
     &worker_config::remote_port},
    {{"queue.size", "SDWORKER_QUEUE_SIZE", false, "jobs that may wait; more are refused with HTTP 503"},
     &worker_config::queue_size},
    {{"queue.max-batch", "SDWORKER_MAX_BATCH", false,
      "images one batch across requests may hold (compatible jobs share UNet calls); 1 = no batching"},
     &worker_config::max_batch},
    {{"queue.max-megapixel-steps", "SDWORKER_MAX_MEGAPIXEL_STEPS", false,
      "most work one request may ask for: width x height x batch_size x n_iter x steps / 1e6; more is refused (HTTP 422)"},
     &worker_config::max_megapixel_steps},
    {{"queue.kept-results-mb", "SDWORKER_KEPT_RESULTS_MB", false,
      "MiB of finished jobs' answers kept for /status, /stream and /retry; the oldest are forgotten first"},
     &worker_config::kept_results_mb},
    {{"queue.kept-results-minutes", "SDWORKER_KEPT_RESULTS_MINUTES", false,
      "minutes a finished job's answer is kept for /status, /stream and /retry"},
     &worker_config::kept_results_minutes},
    {{"queue.drain-seconds", "SDWORKER_DRAIN_SECONDS", false,
      "after SIGTERM, seconds the jobs in flight may take to finish (below the platform's grace period); then they "
      "end with an error (serve) or are interrupted (api); a second signal ends them at once"},
     &worker_config::drain_seconds},
    {{"http.host", "SDWORKER_HOST", false, "address `sdworker api` listens on"}, &worker_config::host},
    {{"http.port", "SDWORKER_PORT", false, "TCP port of `sdworker api`"}, &worker_config::port},
    {{"http.api-auth", "SDWORKER_API_AUTH", true,
      "user:pass[,user2:pass2]: HTTP basic auth, asked on every route (A1111's and the RunPod-style ones); empty = none"},
     &worker_config::api_auth},
    {{"http.api-key", "SDWORKER_API_KEY", true,
      "key clients send as Authorization: Bearer <key> (RunPod's clients do), taken on every route; empty = none"},
     &worker_config::http_api_key},
    {{"http.health-access", "SDWORKER_HEALTH_ACCESS", false,
      "open: /health and /metrics answer without credentials; auth: they ask for them like every other route"},
     &worker_config::health_access},
    {{"http.max-body-mb", "SDWORKER_MAX_BODY_MB", false, "largest request body in MiB; larger get HTTP 413"},
     &worker_config::max_body_mb},
    {{"http.styles-file", "SDWORKER_STYLES_FILE", false,
      "A1111's styles.csv (name,prompt,negative_prompt) for /sdapi/v1/prompt-styles and png-info; missing = no styles"},
     &worker_config::styles_file},
    {{"runpod.get-job-url", "RUNPOD_WEBHOOK_GET_JOB", false, "job-take URL template; set = serverless mode"},
     &worker_config::get_job_url},
    {{"runpod.post-output-url", "RUNPOD_WEBHOOK_POST_OUTPUT", false, "job-done URL template"},
     &worker_config::post_output_url},
    {{"runpod.ping-url", "RUNPOD_WEBHOOK_PING", false, "heartbeat URL template"}, &worker_config::ping_url},
    {{"runpod.ping-interval", "RUNPOD_PING_INTERVAL", false, "heartbeat period in milliseconds"},
     &worker_config::ping_interval_ms},
    {{"runpod.concurrency", "SDWORKER_CONCURRENCY", false,
      "jobs the serverless worker holds at once (more than the devices lets batches form); 0 = one per device"},
     &worker_config::concurrency},
    {{"runpod.api-port", "SDWORKER_SERVE_API_PORT", false,
      "`sdworker serve` also opens the local API (A1111 routes, /health, /metrics with the deliveries) on http.host "
      "at this port; 0 = none"},
     &worker_config::serve_api_port},
    {{"runpod.max-result-mb", "SDWORKER_MAX_RESULT_MB", false,
      "largest result posted to job-done, in MB (RunPod's payload limit is 20); a larger one is replaced by an error "
      "result saying so"},
     &worker_config::max_result_mb},
    {{"runpod.api-key", "RUNPOD_AI_API_KEY", true, "sent as Authorization to RunPod; never logged"},
     &worker_config::api_key},
    {{"runpod.pod-id", "RUNPOD_POD_ID", false, "this worker's id in RunPod URLs; empty = a random id"},
     &worker_config::pod_id},
    {{"runpod.pod-hostname", "RUNPOD_POD_HOSTNAME", false, "reported with errors"}, &worker_config::pod_hostname},
    {{"runpod.endpoint-id", "RUNPOD_ENDPOINT_ID", false, "the endpoint; set = JSON log lines (log.format auto)"},
     &worker_config::endpoint_id},
    {{"runpod.bucket-endpoint-url", "BUCKET_ENDPOINT_URL", false,
      "S3-compatible storage (http(s)://host[:port]) that the images of a result over max-result-mb are uploaded to, "
      "the output carrying their presigned URLs (7 days); empty = such a result fails"},
     &worker_config::bucket_endpoint_url},
    {{"runpod.bucket-access-key-id", "BUCKET_ACCESS_KEY_ID", true, "the storage's access key id; never logged"},
     &worker_config::bucket_access_key_id},
    {{"runpod.bucket-secret-access-key", "BUCKET_SECRET_ACCESS_KEY", true,
      "the storage's secret access key; never logged"},
     &worker_config::bucket_secret_access_key},
    {{"runpod.bucket", "SDWORKER_BUCKET", false,
      "the bucket uploads go to (it must exist); empty = one per month named \"MM-YY\", as RunPod's upload helper names it"},
     &worker_config::bucket},
    {{"runpod.bucket-region", "SDWORKER_BUCKET_REGION", false,
      "the storage's region for request signing; empty = read from the endpoint (s3.<region>...), else us-east-1"},
     &worker_config::bucket_region},
    {{"log.format", "SDWORKER_LOG_FORMAT", false, "auto, text or json"}, &worker_config::log_format},
    {{"log.level", "SDWORKER_LOG_LEVEL", false, "trace, debug, info, warn or error"}, &worker_config::log_level},
  };
  return table;
}

const key_binding* find_binding(std::string_view name) {
  for (const auto& b : bindings()) {
    if (b.key.name == name) {
      return &b;
    }
  }
  return nullptr;
}

bool one_of(const std::string& value, std::initializer_list<const char*> allowed) {
  for (const char* a : allowed) {
    if (value == a) {
      return true;
    }
  }
  return false;
}

[[noreturn]] void bad(std::string_view key, const std::string& message) {
  throw error(errc::bad_request, std::string(key), message);
}

/// The storage settings: the three BUCKET_* variables together or none, a usable endpoint URL, a
/// valid bucket name and region.
void validate_bucket(const worker_config& c) {
  std::string missing;
  for (const auto& [value, env] : {std::pair{&c.bucket_endpoint_url, "BUCKET_ENDPOINT_URL"},
                                   std::pair{&c.bucket_access_key_id, "BUCKET_ACCESS_KEY_ID"},
                                   std::pair{&c.bucket_secret_access_key, "BUCKET_SECRET_ACCESS_KEY"}}) {
    if (value->empty()) {
      missing += (missing.empty() ? "" : ", ") + std::string(env);
    }
  }
  const bool any = !c.bucket_endpoint_url.empty() || !c.bucket_access_key_id.empty() ||
                   !c.bucket_secret_access_key.empty();
  if (any && !missing.empty()) {
    bad("runpod.bucket-endpoint-url", "the storage needs BUCKET_ENDPOINT_URL, BUCKET_ACCESS_KEY_ID and "
                                      "BUCKET_SECRET_ACCESS_KEY together (or none of them); missing: " + missing);
  }
  if (!c.bucket_endpoint_url.empty()) {
    parse_s3_endpoint(c.bucket_endpoint_url, "runpod.bucket-endpoint-url");
  }
  if (!c.bucket.empty()) {
    if (const std::string problem = bucket_name_problem(c.bucket); !problem.empty()) {
      bad("runpod.bucket", "'" + c.bucket + "' is not a bucket name: it " + problem);
    }
  }
  if (c.bucket_region.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos) {
    bad("runpod.bucket-region", "must be a region name such as us-east-1, got '" + c.bucket_region + "'");
  }
}

} // namespace

const std::vector<config_key>& config_keys() {
  static const std::vector<config_key> keys = [] {
    std::vector<config_key> out;
    for (const auto& b : bindings()) {
      out.push_back(b.key);
    }
    return out;
  }();
  return keys;
}

void set_config_value(worker_config& config, std::string_view name, const std::string& value,
                      const std::string& source) {
  const key_binding* b = find_binding(name);
  if (b == nullptr) {
    throw error(errc::bad_request, source, "unknown key '" + std::string(name) + "'");
  }
  if (const auto* s = std::get_if<string_field>(&b->field)) {
    config.*(*s) = value;
    return;
  }
  int parsed = 0;
  const char* end = value.data() + value.size();
  const auto [ptr, ec] = std::from_chars(value.data(), end, parsed);
  if (ec != std::errc() || ptr != end || value.empty()) {
    // Secrets are not echoed; every other bad value is, so the user sees what was read.
    throw error(errc::bad_request, source,
                std::string(name) + " must be an integer, got '" + (b->key.secret ? "***" : value) +
                  "'");
  }
  config.*std::get<int_field>(b->field) = parsed;
}

std::string config_value_text(const worker_config& config, std::string_view name) {
  const key_binding* b = find_binding(name);
  if (b == nullptr) {
    throw error(errc::bad_request, std::string(name), "unknown configuration key '" + std::string(name) + "'");
  }
  if (const auto* s = std::get_if<string_field>(&b->field)) {
    return config.*(*s);
  }
  return std::to_string(config.*std::get<int_field>(b->field));
}

void apply_environment(worker_config& config, const std::function<const char*(const char*)>& getenv) {
  for (const auto& b : bindings()) {
    if (b.key.env.empty()) {
      continue;
    }
    const std::string var(b.key.env);
    if (const char* value = getenv(var.c_str())) {
      set_config_value(config, b.key.name, value, var);
    }
  }
}

void validate(const worker_config& c) {
  if (c.port < 1 || c.port > 65535) {
    bad("http.port", "must be 1..65535, got " + std::to_string(c.port));
  }
  if (c.remote_port < 1 || c.remote_port > 65535) {
    bad("remote.port", "must be 1..65535, got " + std::to_string(c.remote_port));
  }
  if (remote_executors(c).empty() && c.devices == "none" && c.simulate == 0) {
    bad("model.devices", "is none, so remote.executors must name at least one executor host");
  }
  if (c.queue_size < 1) {
    bad("queue.size", "must be at least 1, got " + std::to_string(c.queue_size));
  }
  if (c.max_body_mb < 1 || c.max_body_mb > 4096) {
    bad("http.max-body-mb", "must be 1..4096, got " + std::to_string(c.max_body_mb));
  }
  if (c.threads < 0) {
    bad("model.threads", "must be 0 (all cores) or more, got " + std::to_string(c.threads));
  }
  if (c.serve_api_port < 0 || c.serve_api_port > 65535) {
    bad("runpod.api-port", "must be 0..65535, got " + std::to_string(c.serve_api_port));
  }
  if (c.concurrency < 0 || c.concurrency > 1024) {
    bad("runpod.concurrency", "must be 0..1024, got " + std::to_string(c.concurrency));
  }
  if (c.concurrency > c.queue_size) {
    bad("runpod.concurrency", "is " + std::to_string(c.concurrency) + ", more than queue.size (" +
                                std::to_string(c.queue_size) +
                                "): the jobs taken beyond the queue would be refused; raise queue.size");
  }
  if (c.kept_results_mb < 1 || c.kept_results_mb > 1 << 20) {
    bad("queue.kept-results-mb", "must be 1..1048576, got " + std::to_string(c.kept_results_mb));
  }
  if (c.max_result_mb < 1 || c.max_result_mb > 1000) {
    bad("runpod.max-result-mb", "must be 1..1000, got " + std::to_string(c.max_result_mb));
  }
  if (c.drain_seconds < 0 || c.drain_seconds > 3600) {
    bad("queue.drain-seconds", "must be 0..3600, got " + std::to_string(c.drain_seconds));
  }
  if (c.kept_results_minutes < 1 || c.kept_results_minutes > 7 * 24 * 60) {
    bad("queue.kept-results-minutes", "must be 1..10080, got " + std::to_string(c.kept_results_minutes));
  }
  if (c.ping_interval_ms < 1) {
    bad("runpod.ping-interval", "must be a positive number of milliseconds, got " + std::to_string(c.ping_interval_ms));
  }
  const bool cuda_n = c.device.rfind("cuda:", 0) == 0 && c.device.size() > 5 &&
                      c.device.find_first_not_of("0123456789", 5) == std::string::npos;
  if (!one_of(c.device, {"auto", "cpu", "cuda"}) && !cuda_n) {
    bad("model.device", "must be auto, cpu, cuda or cuda:N, got '" + c.device + "'");
  }
  if (!one_of(c.dtype, {"auto", "f32", "f16", "bf16"})) {
    bad("model.dtype", "must be auto, f32, f16 or bf16, got '" + c.dtype + "'");
  }
  if (!one_of(c.log_format, {"auto", "text", "json"})) {
    bad("log.format", "must be auto, text or json, got '" + c.log_format + "'");
  }
  if (!one_of(c.log_level, {"trace", "debug", "info", "warn", "error"})) {
    bad("log.level", "must be trace, debug, info, warn or error, got '" + c.log_level + "'");
  }
  if (c.max_batch < 1 || c.max_batch > 64) {
    bad("queue.max-batch", "must be 1..64, got " + std::to_string(c.max_batch));
  }
  if (c.max_megapixel_steps < 1) {
    bad("queue.max-megapixel-steps", "must be at least 1, got " + std::to_string(c.max_megapixel_steps));
  }
  if (c.simulate < 0 || c.simulate > 1024) {
    bad("model.simulate", "must be 0..1024, got " + std::to_string(c.simulate));
  }
  simulate_speeds(c);
  simulate_time_scale(c);
  if (c.simulate == 0 && !c.devices.empty()) {
    executor_devices(c, 0);  // only the form is checked; the device count changes no verdict
  }
  if (c.host.empty()) {
    bad("http.host", "must not be empty");
  }
  if (!one_of(c.health_access, {"open", "auth"})) {
    bad("http.health-access", "must be open or auth, got '" + c.health_access + "'");
  }
  if (!c.api_auth.empty()) {
    size_t start = 0;
    while (start <= c.api_auth.size()) {
      const size_t comma = std::min(c.api_auth.find(',', start), c.api_auth.size());
      const std::string entry = c.api_auth.substr(start, comma - start);
      const size_t colon = entry.find(':');
      if (colon == std::string::npos || colon == 0) {
        bad("http.api-auth", "each entry must be user:password (entry " +
                               std::to_string(std::count(c.api_auth.begin(), c.api_auth.begin() + start, ',') + 1) +
                               " is not)");
      }
      start = comma + 1;
    }
  }
  validate_bucket(c);
  if (!c.get_job_url.empty() && c.get_job_url.rfind("http://", 0) != 0 && c.get_job_url.rfind("https://", 0) != 0) {
    bad("runpod.get-job-url", "must be an http:// or https:// URL, got '" + c.get_job_url + "'");
  }
}

namespace {

/// A positive finite number, or std::nullopt.
std::optional<double> positive_number(const std::string& text) {
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used == text.size() && std::isfinite(v) && v > 0) {
      return v;
    }
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

} // namespace

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    std::string item = text.substr(start, comma - start);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    out.push_back(item);
    start = comma + 1;
  }
  return out;
}

std::vector<double> simulate_speeds(const worker_config& config) {
  std::vector<double> listed;
  if (!config.simulate_speeds.empty()) {
    for (const auto& item : split_list(config.simulate_speeds)) {
      const auto v = positive_number(item);
      if (!v) {
        bad("model.simulate-speeds", "each speed must be a positive number, got '" + item + "'");
      }
      listed.push_back(*v);
    }
  }
  std::vector<double> speeds(static_cast<size_t>(std::max(0, config.simulate)), 1.0);
  for (size_t i = 0; i < speeds.size() && !listed.empty(); ++i) {
    speeds[i] = listed[i % listed.size()];
  }
  return speeds;
}

std::vector<remote_address> remote_executors(const worker_config& config) {
  std::vector<remote_address> out;
  if (config.remote_executors.empty()) {
    return out;
  }
  for (const auto& item : split_list(config.remote_executors)) {
    const auto colon = item.rfind(':');
    const std::string port = colon == std::string::npos ? "" : item.substr(colon + 1);
    if (colon == 0 || colon == std::string::npos || port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) < 1 || std::stoi(port) > 65535) {
      bad("remote.executors", "each item must be host:port, got '" + item + "'");
    }
    remote_address a{item.substr(0, colon), static_cast<uint16_t>(std::stoi(port))};
    for (const auto& seen : out) {
      if (seen.text() == a.text()) {
        bad("remote.executors", a.text() + " is listed twice");
      }
    }
    out.push_back(std::move(a));
  }
  return out;
}

double simulate_time_scale(const worker_config& config) {
  const auto v = positive_number(config.simulate_time_scale);
  if (!v) {
    bad("model.simulate-time-scale", "must be a positive number, got '" + config.simulate_time_scale + "'");
  }
  return *v;
}

bool json_logs(const worker_config& config) {
  return config.log_format == "json" || (config.log_format == "auto" && !config.endpoint_id.empty());
}

std::string lora_folder(const worker_config& config) {
  return config.lora_dir.empty() ? config.model_dir + "/Lora" : config.lora_dir;
}

std::string embeddings_folder(const worker_config& config) {
  return config.embeddings_dir.empty() ? config.model_dir + "/embeddings" : config.embeddings_dir;
}

std::string esrgan_folder(const worker_config& config) {
  return config.esrgan_dir.empty() ? config.model_dir + "/ESRGAN" : config.esrgan_dir;
}

} // namespace sdw
