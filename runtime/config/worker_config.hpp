#pragma once
/// The worker's one configuration struct. Values come, each overriding the one before, from the
/// defaults here, the INI file (conf/sdworker.ini), the environment (SDWORKER_*, RUNPOD_*) and
/// the command line. Every source goes through the same table of keys, so a key is spelled,
/// parsed and checked the same way wherever it is set, and errors name the source and the key.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace sdw {

/// Everything `sdworker api` and `sdworker serve` are told.
struct worker_config {
  // [model]
  std::string model_dir = "models";  ///< checkpoints, the demo model and clip/
  std::string checkpoint;            ///< the model to load; empty = the tiny random-weight demo model
  std::string model_url;             ///< fetched at start into the models folder unless there already
  std::string model_sha256;          ///< what the fetched file must hash to; empty = unchecked
  std::string clip_vocab;            ///< CLIP BPE file; empty = search model_dir/clip and ../shared/clip
  std::string lora_dir;                  ///< LoRA files that prompts' <lora:name:…> tags name; empty = <model_dir>/Lora
  int model_cache_mb = 8192;             ///< weights each executor may hold for the checkpoints jobs name
  std::string embeddings_dir;            ///< textual-inversion embeddings that prompts name; empty = <model_dir>/embeddings
  std::string esrgan_dir;                ///< ESRGAN upscaler files (R-ESRGAN in RealESRGAN/ beside it); empty = <model_dir>/ESRGAN
  std::string device = "auto";       ///< auto, cpu, cuda, cuda:N
  std::string dtype = "auto";        ///< auto, f32, f16, bf16
  int threads = 0;                   ///< libtorch CPU threads; 0 = all cores
  std::string devices;               ///< one executor each: "" = model.device; auto; cpu; "0,1" (CUDA ordinals)
  int simulate = 0;                  ///< N > 0: N simulated executors (cost model, no model) instead
  std::string simulate_speeds;       ///< speed factor of each simulated device ("1,1,2"); empty = all 1
  std::string simulate_time_scale = "1";  ///< simulated time per real time (0.01 = 100× faster)
  // [remote]
  std::string remote_executors;  ///< "host:port,..." of `sdworker executor-host`s that join the local devices
  std::string remote_host = "127.0.0.1";  ///< where `sdworker executor-host` listens
  int remote_port = 4100;
  // [queue]
  int queue_size = 16;  ///< jobs that may wait; more are refused (HTTP 503)
  int max_batch = 4;    ///< images one batch across requests may hold; 1 = no batching
  int max_megapixel_steps = 10000;  ///< a request's width × height × images × steps / 1e6 above this is refused
  int kept_results_mb = 512;        ///< finished jobs' answers kept for /status, in MiB (oldest forgotten first)
  int kept_results_minutes = 30;    ///< and for at most this long (RunPod keeps /run results 30 minutes)
  int drain_seconds = 8;  ///< after SIGTERM, how long jobs in flight may finish before they end with an error
  // [http]
  std::string host = "127.0.0.1";
  int port = 3000;
  std::string api_auth;  ///< "user:pass[,user2:pass2]": HTTP basic auth on every route; empty = none
  std::string http_api_key;  ///< `Authorization: Bearer <key>` on every route; empty = none
  std::string health_access = "open";  ///< open: /health needs no credentials; auth: it asks like the rest
  int max_body_mb = 32;  ///< request bodies above this many MiB get HTTP 413
  std::string styles_file = "styles.csv";  ///< A1111's styles.csv (/sdapi/v1/prompt-styles, png-info); missing = none
  // [runpod]
  std::string get_job_url;      ///< RUNPOD_WEBHOOK_GET_JOB; set = serverless mode
  std::string post_output_url;  ///< RUNPOD_WEBHOOK_POST_OUTPUT
  std::string ping_url;         ///< RUNPOD_WEBHOOK_PING
  int ping_interval_ms = 10000;  ///< RUNPOD_PING_INTERVAL
  int concurrency = 0;          ///< jobs taken at once; 0 = one per device
  int serve_api_port = 0;       ///< serve also listens on http.host at this port (A1111 API, /health, /metrics); 0 = no
  int max_result_mb = 20;       ///< job-done payload limit (MB); a larger result is replaced by an error
  std::string api_key;          ///< RUNPOD_AI_API_KEY; never logged
  std::string pod_id;           ///< RUNPOD_POD_ID; empty = a random id
  std::string pod_hostname;     ///< RUNPOD_POD_HOSTNAME
  std::string endpoint_id;      ///< RUNPOD_ENDPOINT_ID; set = JSON log lines
  std::string bucket_endpoint_url;       ///< BUCKET_ENDPOINT_URL: S3-compatible storage for results over max_result_mb
  std::string bucket_access_key_id;      ///< BUCKET_ACCESS_KEY_ID; never logged
  std::string bucket_secret_access_key;  ///< BUCKET_SECRET_ACCESS_KEY; never logged
  std::string bucket;                    ///< SDWORKER_BUCKET; empty = the upload's month ("%m-%y"), as RunPod names it
  std::string bucket_region;             ///< SDWORKER_BUCKET_REGION; empty = from the endpoint, else us-east-1
  // [log]
  std::string log_format = "auto";  ///< auto (JSON when endpoint_id is set), text, json
  std::string log_level = "info";   ///< trace, debug, info, warn, error
};

/// One configuration key: its INI name ("section.key"), the environment variable that sets it
/// (may be empty), whether it is a secret (never shown), and what it means.
struct config_key {
  std::string_view name;
  std::string_view env;
  bool secret = false;
  std::string_view help;
};

/// Every key, in the order conf/sdworker.ini lists them.
const std::vector<config_key>& config_keys();

/// Sets key `name` from its text form. `source` names where the text came from
/// ("conf/sdworker.ini", "SDWORKER_PORT", "--port") for the error: sdw::error(bad_request,
/// source, "<key>: ...") for an unknown key or a value of the wrong form.
void set_config_value(worker_config& config, std::string_view name, const std::string& value,
                      const std::string& source);

/// The text form of key `name` (secrets as given; callers that show values redact them).
std::string config_value_text(const worker_config& config, std::string_view name);

/// Applies every variable of config_keys() that `getenv` returns non-null for.
void apply_environment(worker_config& config, const std::function<const char*(const char*)>& getenv);

/// Checks the whole configuration once, at start: sdw::error(bad_request, "<key>", message) for the
/// first value that cannot work (a port out of range, an unknown device or log level, an api-auth
/// entry without ':', ...).
void validate(const worker_config& config);

/// The items of a comma-separated setting, spaces around each trimmed ("a, b" → {"a", "b"}; "" → {""}).
std::vector<std::string> split_list(const std::string& text);

/// The speed factor of each of the `simulate` simulated devices: simulate-speeds, cycled when
/// shorter, 1 when empty. sdw::error(bad_request, "model.simulate-speeds", ...) for a bad list.
std::vector<double> simulate_speeds(const worker_config& config);

/// The Lora folder: lora_dir, else <model_dir>/Lora.
std::string lora_folder(const worker_config& config);

/// The embeddings folder: embeddings_dir, else <model_dir>/embeddings.
std::string embeddings_folder(const worker_config& config);

/// The ESRGAN folder: esrgan_dir, else <model_dir>/ESRGAN (R-ESRGAN files in RealESRGAN/ beside it).
std::string esrgan_folder(const worker_config& config);

/// model.simulate-time-scale as a number; sdw::error(bad_request, "model.simulate-time-scale", ...)
/// unless it is a positive number.
double simulate_time_scale(const worker_config& config);

/// One `sdworker executor-host` a worker places jobs on, besides (or instead of) its own devices.
struct remote_address {
  std::string host;
  uint16_t port = 0;
  /// "host:port", as the device is named in /health and in results ("remote:" prefixed there).
  std::string text() const { return host + ":" + std::to_string(port); }
};

/// remote.executors as addresses, in order; sdw::error(bad_request, "remote.executors", ...) for an
/// item that is not host:port or an address listed twice.
std::vector<remote_address> remote_executors(const worker_config& config);

/// Whether logs are JSON lines: log_format "json", or "auto" with endpoint_id set (as on RunPod).
bool json_logs(const worker_config& config);

} // namespace sdw
