#include "runtime/engine/make_model.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/engine/sd1_layout.hpp"

#include <c10/util/Half.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

namespace sdw {

const char* to_string(model_preset preset) {
  switch (preset) {
    case model_preset::tiny: return "tiny";
    case model_preset::sd15: return "sd15";
    case model_preset::sd2_tiny: return "sd2-tiny";
    case model_preset::sd2: return "sd2";
    case model_preset::sdxl_tiny: return "sdxl-tiny";
    case model_preset::sdxl: return "sdxl";
  }
  return "tiny";
}

std::optional<model_preset> parse_model_preset(const std::string& name) {
  for (auto p : {model_preset::tiny, model_preset::sd15, model_preset::sd2_tiny, model_preset::sd2,
                 model_preset::sdxl_tiny, model_preset::sdxl})
    if (name == to_string(p)) return p;
  return std::nullopt;
}

namespace {

// SD2.x as A1111's v2-inference.yaml describes it.
model_config sd2_config() {
  model_config c;
  c.unet.num_heads = -1;
  c.unet.num_head_channels = 64;
  c.unet.context_dim = 1024;
  c.unet.use_linear_in_transformer = true;
  c.text = open_clip_vit_h();
  return c;
}

// SDXL base as sgm's sd_xl_base.yaml describes it.
model_config sdxl_config() {
  model_config c;
  c.unet.channel_mult = {1, 2, 4};
  c.unet.attention_resolutions = {4, 2};
  c.unet.num_heads = -1;
  c.unet.num_head_channels = 64;
  c.unet.use_linear_in_transformer = true;
  c.unet.transformer_depth_levels = {1, 2, 10};
  c.unet.context_dim = 2048;
  c.unet.adm_in_channels = 2816;
  c.vae.scale_factor = 0.13025;
  c.text = sdxl_clip_l();
  c.text2 = sdxl_open_clip_bigg();
  return c;
}

} // namespace

model_config preset_config(model_preset preset) {
  model_config c;
  if (preset == model_preset::sd2 || preset == model_preset::sd2_tiny) c = sd2_config();
  if (preset == model_preset::sdxl || preset == model_preset::sdxl_tiny) c = sdxl_config();
  c.source = std::string("preset ") + to_string(preset);
  if (preset == model_preset::sd15 || preset == model_preset::sd2 || preset == model_preset::sdxl) return c;
  if (preset == model_preset::sdxl_tiny) {
    // SDXL's key layout at a few MB: two res blocks per level, no attention at full resolution,
    // transformer depths growing with the level, 64-wide heads, both text encoders.
    c.unet.model_channels = 64;
    c.unet.channel_mult = {1, 2, 2};
    c.unet.transformer_depth_levels = {0, 1, 2};
    c.vae.ch = 32;
    c.vae.ch_mult = {1, 1, 1, 1};
    c.vae.num_res_blocks = 1;
    c.text.width = 64;
    c.text.layers = 3;
    c.text.heads = 1;
    c.text.intermediate = 128;
    c.text2->width = 128;
    c.text2->layers = 3;
    c.text2->heads = 2;
    c.text2->intermediate = 256;
    c.text2->projection_dim = 64;
    c.unet.context_dim = c.text.width + c.text2->width;
    c.unet.adm_in_channels = c.text2->projection_dim + sdxl_size_embeddings * sdxl_size_embedding_dim;
    return c;
  }
  if (preset == model_preset::sd2_tiny) {
    // Channels stay multiples of the 64-wide heads, so that detection alone reads the model.
    c.unet.model_channels = 64;
    c.unet.channel_mult = {1, 2};
    c.unet.num_res_blocks = 1;
    c.unet.attention_resolutions = {2};
    c.unet.context_dim = 128;
    c.vae.ch = 32;
    c.vae.ch_mult = {1, 1, 1, 1};
    c.vae.num_res_blocks = 1;
    c.text.width = 128;
    c.text.layers = 3;
    c.text.heads = 2;
    c.text.intermediate = 256;
    return c;
  }
  c.unet.model_channels = 32;
  c.unet.channel_mult = {1, 2};
  c.unet.num_res_blocks = 1;
  c.unet.attention_resolutions = {2};
  c.unet.num_heads = 2;
  c.unet.context_dim = 64;
  c.vae.ch = 32;
  c.vae.ch_mult = {1, 1, 1, 1};  // four levels keep the 8x latent downscale
  c.vae.num_res_blocks = 1;
  c.text.width = 64;
  c.text.layers = 2;
  c.text.heads = 2;
  c.text.intermediate = 128;
  c.text.vocab_size = 49408;
  return c;
}

namespace {

constexpr size_t chunk_elems = size_t(1) << 20;

// 65536 equiprobable normal quantiles: one 64-bit draw gives four N(0,1) samples, which keeps
// generating the ~1.07 B SD1.5 weights to a few seconds. Tails stop near 4.3 sigma.
const std::vector<float>& normal_table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (size_t i = 0; i < t.size(); ++i) {
      const double p = (static_cast<double>(i) + 0.5) / 65536.0;
      double x = 0.0;  // Newton on Phi(x) = p, Phi(x) = erfc(-x/sqrt2)/2
      for (int it = 0; it < 60; ++it) {
        double f = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
        double d = std::exp(-0.5 * x * x) / std::sqrt(2.0 * M_PI);
        double step = f / d;
        x -= std::clamp(step, -1.0, 1.0);
        if (std::abs(step) < 1e-13) break;
      }
      t[i] = static_cast<float>(x);
    }
    return t;
  }();
  return table;
}

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// How one tensor is initialised: value = mean + stddev * N(0,1) (stddev 0 for constants).
struct init_rule {
  float mean = 0, stddev = 0;
};

init_rule rule_for(const tensor_spec& spec, const std::map<std::string, size_t>& rank) {
  const std::string& n = spec.name;
  auto ends_with = [&](std::string_view suffix) {
    return n.size() >= suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with("token_embedding.weight")) return {0, 0.02f};
  if (ends_with("position_embedding.weight") || ends_with("positional_embedding")) return {0, 0.01f};
  if (ends_with("logit_scale")) return {4.6052f, 0};  // ln(100), as trained CLIP models end up
  if (ends_with("in_proj_bias")) return {0, 0.02f};
  if (ends_with(".bias")) {
    auto w = rank.find(n.substr(0, n.size() - 5) + ".weight");
    // Norms get trained-looking shifts and scales: with exact 0/1 a layer norm's output has a
    // zero mean, which A1111's emphasis re-normalisation (a ratio of means) turns into inf.
    if (w != rank.end() && w->second == 1) return {0, 0.1f};  // a norm's shift
    return {0, 0.02f};
  }
  if (spec.shape.size() == 1) return {1, 0.1f};  // a norm's scale
  double fan_in = 1;
  for (size_t i = 1; i < spec.shape.size(); ++i) fan_in *= static_cast<double>(spec.shape[i]);
  float stddev = static_cast<float>(1.0 / std::sqrt(fan_in));
  // A small final UNet conv keeps the predicted noise near the scale of real models.
  if (n == std::string(sd1_unet_prefix) + "out.2.weight") stddev *= 0.1f;
  return {0, stddev};
}

void fill_chunk(float* out, size_t n, const init_rule& r, uint64_t seed, uint64_t name_hash, uint64_t chunk) {
  if (r.stddev == 0) {
    std::fill(out, out + n, r.mean);
    return;
  }
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                    static_cast<uint32_t>(name_hash), static_cast<uint32_t>(name_hash >> 32),
                    static_cast<uint32_t>(chunk)};
  std::mt19937_64 gen(seq);
  const float* table = normal_table().data();
  size_t i = 0;
  while (i < n) {
    uint64_t bits = gen();
    for (int k = 0; k < 4 && i < n; ++k, ++i, bits >>= 16) out[i] = r.mean + r.stddev * table[bits & 0xffff];
  }
}

// Runs fn(i) for i in [0, n) on a few threads; results do not depend on the thread count.
template <class F>
void parallel_for(size_t n, F fn) {
  size_t threads = std::min<size_t>({n, std::max(1u, std::thread::hardware_concurrency()), 8});
  if (threads <= 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  std::vector<std::thread> pool;
  for (size_t t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (size_t i; (i = next.fetch_add(1)) < n;) fn(i);
    });
  for (auto& th : pool) th.join();
}

void fill_random(uint8_t* out, size_t numel, st_dtype dtype, const init_rule& r, uint64_t seed,
                 const std::string& name) {
  const uint64_t h = fnv1a(name);
  const size_t chunks = (numel + chunk_elems - 1) / chunk_elems;
  parallel_for(chunks, [&](size_t c) {
    const size_t begin = c * chunk_elems, n = std::min(chunk_elems, numel - begin);
    if (dtype == st_dtype::f32) {
      fill_chunk(reinterpret_cast<float*>(out) + begin, n, r, seed, h, c);
      return;
    }
    std::vector<float> tmp(n);
    fill_chunk(tmp.data(), n, r, seed, h, c);
    uint16_t* dst = reinterpret_cast<uint16_t*>(out) + begin;
    for (size_t i = 0; i < n; ++i) dst[i] = c10::Half(tmp[i]).x;
  });
}

/// Writes `config`'s checkpoint; `label` goes into the metadata, `yaml` beside the file or not.
void write_model(const model_config& config, const std::string& label, st_dtype dtype, uint64_t seed,
                 const std::string& out_path, bool yaml_beside) {
  if (dtype != st_dtype::f16 && dtype != st_dtype::f32)
    throw error(errc::bad_request, "dtype", std::string("make_model writes F16 or F32 weights, not ") + to_string(dtype));
  auto layout = sd1_checkpoint_layout(config);
  if (config.text.open_clip) {
    // Real SD2 checkpoints carry OpenCLIP's pooled-output projection and logit scale; unused here.
    const std::string p(sd2_text_prefix);
    layout.push_back({p + "text_projection", {config.text.width, config.text.width}});
    layout.push_back({p + "logit_scale", {}});
  }

  if (config.text2) {
    layout.push_back({std::string(sdxl_text2_prefix) + "logit_scale", {}});
  }

  std::map<std::string, size_t> rank;
  for (const auto& s : layout) rank[s.name] = s.shape.size();

  std::vector<st_stream_entry> entries;
  entries.reserve(layout.size() + 13);
  for (const auto& spec : layout) {
    init_rule rule = rule_for(spec, rank);
    entries.push_back({spec.name, dtype, spec.shape, [rule, dtype, seed, name = spec.name](uint8_t* out, size_t nbytes) {
                         fill_random(out, nbytes / dtype_size(dtype), dtype, rule, seed, name);
                       }});
  }
  for (auto& [name, values] : sd1_schedule_buffers(config)) {
    entries.push_back({name, st_dtype::f32, {static_cast<int64_t>(values.size())},
                       [v = std::move(values)](uint8_t* out, size_t) {
                         for (size_t i = 0; i < v.size(); ++i) {
                           float f = static_cast<float>(v[i]);
                           std::memcpy(out + 4 * i, &f, 4);
                         }
                       }});
  }
  const int64_t positions = config.text.max_positions;
  if (!config.text.open_clip) {
    const std::string ids_key =
        config.text2 ? std::string(sdxl_text_prefix) + "embeddings.position_ids" : std::string(sd1_position_ids_key);
    entries.push_back({ids_key, st_dtype::i64, {1, positions}, [positions](uint8_t* out, size_t) {
                         for (int64_t i = 0; i < positions; ++i) std::memcpy(out + 8 * i, &i, 8);
                       }});
  }

  const std::map<std::string, std::string> metadata = {
      {"format", "pt"}, {"sdworker_preset", label}, {"sdworker_seed", std::to_string(seed)}};
  write_safetensors_streamed(out_path, entries, metadata);
  const std::string yaml = config_path_for(out_path);
  if (yaml_beside) {
    write_model_config_yaml(config, yaml);
  } else if (config.text.open_clip || config.text2) {
    std::filesystem::remove(yaml);  // a stale one would override detection
  }
}

} // namespace

void make_model(model_preset preset, st_dtype dtype, uint64_t seed, const std::string& out_path, bool inpainting,
                bool v_prediction) {
  model_config config = preset_config(preset);
  if (inpainting) config.unet.in_channels = 9;
  if (v_prediction) config.parameterization = prediction::v;
  const std::string label =
    std::string(to_string(preset)) + (inpainting ? "-inpainting" : "") + (v_prediction ? "-v" : "");
  write_model(config, label, dtype, seed, out_path, preset == model_preset::tiny || v_prediction);
}

void make_model(const model_config& config, st_dtype dtype, uint64_t seed, const std::string& out_path) {
  write_model(config, "custom", dtype, seed, out_path, true);
}

namespace {
constexpr const char* k_demo_name = "sdworker-tiny-demo.safetensors";
} // namespace

std::string demo_model_path(const std::string& model_dir) {
  return (std::filesystem::path(model_dir) / k_demo_name).string();
}

std::string ensure_demo_model(const std::string& model_dir) {
  const std::filesystem::path path = demo_model_path(model_dir);
  spdlog::warn("*** No model configured: using the embedded tiny RANDOM-WEIGHT demo model ({}). ***", path.string());
  spdlog::warn("*** Its images are noise patterns, not pictures. Pass --model to use a real checkpoint. ***");
  if (!std::filesystem::exists(path)) {
    std::filesystem::create_directories(model_dir);
    make_model(model_preset::tiny, st_dtype::f32, 0, path.string());
  }
  return path.string();
}

} // namespace sdw
