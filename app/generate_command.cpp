#include "app/generate_command.hpp"

#include "runtime/catalog/checkpoint_catalog.hpp"
#include "runtime/catalog/vae_catalog.hpp"
#include "runtime/engine/checkpoint_switch.hpp"
#include "runtime/engine/clip_tokenizer.hpp"
#include "runtime/engine/model_cache.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/engine/embedding_library.hpp"
#include "runtime/engine/lora_library.hpp"
#include "runtime/engine/make_model.hpp"
#include "runtime/base/npy.hpp"
#include "runtime/base/png_codec.hpp"
#include "runtime/formats/model_choice.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/engine/sd_model.hpp"
#include "runtime/engine/txt2img.hpp"
#include "runtime/formats/txt2img_request.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>

namespace fs = std::filesystem;

namespace sdw {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw error(errc::not_found, path, "cannot read the file");
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace

int run_generate(const generate_args& args) {
  try {
    const auto t0 = std::chrono::steady_clock::now();
    const std::string body = read_file(args.input);
    txt2img_request request = parse_txt2img_request(body);
    options opts;
    if (request.override_settings) {
      apply_overrides(opts, *request.override_settings);
    }
    const std::string model_path = args.model.empty() ? ensure_demo_model(args.model_dir) : args.model;
    clip_tokenizer tokenizer = clip_tokenizer::from_file(find_clip_vocab(args.clip_vocab, args.model_dir));

    // The checkpoints and VAE the request names (sd_model_checkpoint, sd_vae, hr_checkpoint_name,
    // refiner_checkpoint), found in the models folder as the API finds them.
    const model_folders folders{args.model_dir};
    checkpoint_catalog catalog(folders, model_path);
    catalog.refresh_hashes();
    const model_choice choice = choose_model(request, opts, catalog, scan_vaes(folders));

    device_options dev{args.device, args.dtype};
    dev.keep_file_dtype = !args.widen_weights;
    dev.cuda_graphs = args.cuda_graphs;
    // One job: the cache holds whatever it names.
    const auto cache = std::make_shared<model_cache>(dev, std::numeric_limits<size_t>::max());
    const auto model = cache->get(choice.checkpoint.empty() ? model_path : choice.checkpoint, choice.vae,
                                  [](double f, const std::string& stage) {
                                    std::fprintf(stderr, "\rloading %3.0f%% %-40s", f * 100.0, stage.c_str());
                                    if (f >= 1.0) {
                                      std::fputc('\n', stderr);
                                    }
                                  });
    spdlog::info("model {} ready in {:.2f} s ({})", model->name(), seconds_since(t0), model->config().source);
    const auto hires = switch_to(choice.hires, "hr_checkpoint_name", cache, *model, choice.vae, true);
    const auto refiner = switch_to(choice.refiner, "refiner_checkpoint", cache, *model, choice.vae, false);

    txt2img_hooks hooks;
    const auto t_sample = std::chrono::steady_clock::now();
    hooks.on_step = [&](int step, int total) {
      std::fprintf(stderr, "\rsampling step %d/%d (%.1f s)", step, total, seconds_since(t_sample));
      if (step == total) {
        std::fputc('\n', stderr);
      }
    };
    bool dumped = false;
    hooks.on_latent = [&](const std::vector<float>& latent, const std::vector<int64_t>& shape) {
      if (!args.dump_latent.empty() && !dumped) {
        write_npy_f32(args.dump_latent, latent, shape);
        dumped = true;
      }
    };
    lora_library loras(args.lora_dir);
    embedding_library embeddings(args.embeddings_dir);
    embeddings.load_for(embedding_kind_of(model->config()), std::make_shared<const clip_tokenizer>(tokenizer));
    txt2img_result result = run_txt2img(*model, tokenizer, request, opts, hooks, &loras, embeddings.current(),
                                         hires ? &*hires : nullptr, refiner ? &*refiner : nullptr);

    fs::create_directories(args.out_dir);
    const std::string response = encode_txt2img_response(result, request);
    std::ofstream(fs::path(args.out_dir) / "response.json", std::ios::binary) << response;
    for (size_t i = 0; i < result.images.size(); ++i) {
      char name[64];
      std::snprintf(name, sizeof name, "%05zu-%lld.png", i, static_cast<long long>(result.all_seeds[i]));
      const auto& img = result.images[i];
      std::ofstream(fs::path(args.out_dir) / name, std::ios::binary)
        << encode_png(img.pixels.data(), img.width, img.height, {{"parameters", img.infotext}});
      spdlog::info("wrote {}", (fs::path(args.out_dir) / name).string());
    }
    spdlog::info("done in {:.2f} s; response in {}", seconds_since(t0),
                 (fs::path(args.out_dir) / "response.json").string());
    return 0;
  } catch (const error& e) {
    spdlog::error("{}", e.what());
    return e.code() == errc::bad_request || e.code() == errc::not_found ? 2 : 1;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
}

} // namespace sdw
