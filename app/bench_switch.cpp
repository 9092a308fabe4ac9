#include "app/bench_command.hpp"

#include "runtime/engine/make_model.hpp"
#include "runtime/engine/model_cache.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <fstream>

namespace sdw {

int run_switch_bench(const bench_args& args) {
  const std::string a = bench_model(args);
  device_options dev{args.device, args.dtype};
  dev.memory_format = args.memory_format;
  size_t one = 0;
  model_preset preset = model_preset::sd15;
  {
    const std::shared_ptr<sd_model> first = sd_model::load(a, dev);
    one = first->weight_bytes();
    // A second checkpoint of the same preset (sd15 for a model of none), with other weights.
    preset = preset_of(first->config()).value_or(model_preset::sd15);
  }
  const std::string size = to_string(preset);
  const std::string b =
    (std::filesystem::path(args.model_dir) / ("sdworker-" + size + "-random-f16-b.safetensors")).string();
  if (!std::filesystem::exists(b)) {
    spdlog::info("making a second {}-size random checkpoint {}", size, b);
    make_model(preset, st_dtype::f16, 1, b);
  }

  // Both held: a switch finds the other model in the cache.
  model_cache both(dev, 2 * one + one / 2);
  both.get(a, "");
  both.get(b, "");
  bool flip = false;
  const double cached = median_seconds(args.repeats, [&] { both.get((flip = !flip) ? a : b, ""); });
  // One held: every switch loads the other from disk (the file is in the OS page cache after the
  // first read, as on a worker that switches often).
  model_cache single(dev, one + one / 2);
  single.get(a, "");
  const double from_disk = median_seconds(args.repeats, [&] { single.get((flip = !flip) ? b : a, ""); });
  spdlog::info("bench --switch: two {}-size checkpoints, {} MiB of weights each", size, one >> 20);
  spdlog::info("{:<34} {:9.4f} s", "switch held in the cache", cached);
  spdlog::info("{:<34} {:9.3f} s", "switch loaded from disk", from_disk);
  spdlog::info("{:<34} {:9.0f} x", "from disk / cached", from_disk / std::max(cached, 1e-9));
  if (!args.json_out.empty()) {
    std::ofstream(args.json_out) << "{\"switch_cached_s\": " << cached << ", \"switch_from_disk_s\": " << from_disk
                                 << ", \"weights_mib\": " << (one >> 20) << "}\n";
  }
  return 0;
}

} // namespace sdw
