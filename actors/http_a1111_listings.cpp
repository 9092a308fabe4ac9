// The A1111 routes that list what the worker has (/sdapi/v1/cmd-flags, /upscalers, /prompt-styles,
// ...), the refresh and checkpoint routes, and the image routes png-info, interrogate and the extras.
#define _TURN_OFF_PLATFORM_STRING
#include "actors/http_context.hpp"

#include "runtime/engine/embedding_library.hpp"
#include "runtime/engine/upscaler_library.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/catalog/lora_catalog.hpp"
#include "runtime/formats/a1111_cmd_flags.hpp"
#include "runtime/formats/a1111_extras.hpp"
#include "runtime/formats/a1111_listings.hpp"
#include "runtime/formats/a1111_png_info.hpp"
#include "runtime/formats/a1111_scripts.hpp"
#include "runtime/formats/prompt_attention.hpp"
#include "runtime/image/model_upscalers.hpp"

#include <caf/event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include <exception>

namespace sdw {
namespace {

struct listing_route {
  const char* path;
  const char* method;
  /// The whole answer when it never changes; nullptr when the route computes it.
  const char* fixed;
};

constexpr listing_route routes[] = {
  {"/sdapi/v1/cmd-flags", "GET", nullptr},
  {"/sdapi/v1/upscalers", "GET", nullptr},
  {"/sdapi/v1/latent-upscale-modes", "GET", nullptr},
  {"/sdapi/v1/sd-vae", "GET", nullptr},
  {"/sdapi/v1/hypernetworks", "GET", "[]"},
  {"/sdapi/v1/face-restorers", "GET", "[]"},
  {"/sdapi/v1/realesrgan-models", "GET", nullptr},
  {"/sdapi/v1/prompt-styles", "GET", nullptr},
  {"/sdapi/v1/embeddings", "GET", nullptr},
  {"/sdapi/v1/loras", "GET", nullptr},
  {"/sdapi/v1/scripts", "GET", nullptr},
  {"/sdapi/v1/script-info", "GET", nullptr},
  {"/sdapi/v1/extensions", "GET", "[]"},
  {"/sdapi/v1/refresh-embeddings", "POST", nullptr},
  {"/sdapi/v1/refresh-vae", "POST", nullptr},
  // Every listing and every name a prompt gives reads the folder again when needed: nothing to refresh.
  {"/sdapi/v1/refresh-loras", "POST", "null"},
  {"/sdapi/v1/unload-checkpoint", "POST", nullptr},
  {"/sdapi/v1/reload-checkpoint", "POST", nullptr},
  {"/sdapi/v1/png-info", "POST", nullptr},
  {"/sdapi/v1/interrogate", "POST", nullptr},
  {"/sdapi/v1/extra-single-image", "POST", nullptr},
  {"/sdapi/v1/extra-batch-images", "POST", nullptr},
};

std::vector<embedding_listing> listings_of(const std::vector<embedding_set::entry>& entries) {
  std::vector<embedding_listing> out;
  for (const auto& e : entries) {
    out.push_back({e->name, e->step, e->sd_checkpoint, e->sd_checkpoint_name, e->shape, e->vectors});
  }
  return out;
}

/// The embeddings of the model as last read; none before the model is loaded.
std::string embeddings_answer(const front_context& ctx) {
  const auto set = ctx.config.embeddings ? ctx.config.embeddings->last() : nullptr;
  if (!set) {
    return embeddings_json();
  }
  return embeddings_json(listings_of(set->loaded()), listings_of(set->skipped()));
}

/// Reads the embeddings folder again on a thread of its own, so that no HTTP thread reads files.
void refresh_embeddings(front_context& ctx, const reply_fn& reply) {
  auto library = ctx.config.embeddings;
  if (!library) {
    return reply({200, "null"});
  }
  ctx.system.spawn<caf::detached>([library, reply](caf::event_based_actor* self) {
    try {
      library->refresh();
      reply({200, "null"});
    } catch (const std::exception& e) {
      const std::string id = new_error_id();
      spdlog::error("{}: refresh-embeddings: {}", id, e.what());
      reply(json_error(500, public_error_text(e.what(), id)));
    }
    self->quit();
  });
}

/// The Lora folder's networks with their metadata, read off the front door's thread (a network
/// volume may be slow; each file's header is read).
void list_loras(front_context& ctx, const reply_fn& reply) {
  ctx.system.spawn<caf::detached>([dir = ctx.config.lora_dir, reply](caf::event_based_actor* self) {
    try {
      reply({200, loras_json(dir.empty() ? std::vector<lora_file_entry>{} : list_lora_files(dir))});
    } catch (const std::exception& e) {
      const std::string id = new_error_id();
      spdlog::error("{}: loras: {}", id, e.what());
      reply(json_error(500, public_error_text(e.what(), id)));
    }
    self->quit();
  });
}

/// A1111's unload-checkpoint and reload-checkpoint: every device lets go of its models (A1111 moves
/// them off the device), or loads the startup checkpoint again, after the batch it is running.
template <class Atom>
void checkpoint_call(front_context& ctx, Atom atom, const reply_fn& reply) {
  ctx.ask(
    ctx.scheduler, std::chrono::minutes(10), [reply](int64_t) { reply({200, "{}"}); },
    [reply](caf::error& e) {
      const caf::message& why = e.context();
      reply(json_error(500, why.match_elements<std::string>() ? why.get_as<std::string>(0)
                                                               : std::string("the devices did not answer")));
    },
    atom);
}

/// Reads the image with the stored options that change how A1111 parses an infotext.
void png_info(front_context& ctx, const std::string& body, const reply_fn& reply) {
  ctx.ask(
    ctx.options, quick_timeout,
    [&ctx, body, reply](std::string& options_json) {
      infotext_parse_options options = png_info_options(options_json);
      options.styles = load_prompt_styles(ctx.config.styles_file);
      options.uses_emphasis = prompt_uses_emphasis;
      reply(png_info_answer(body, options));
    },
    [reply](caf::error&) { reply(json_error(500, "the options keeper did not answer")); }, caf::get_atom::value,
    std::string(), std::string());
}

/// Upscales on a thread of its own, one request at a time (the front's extras line), with the stored
/// enable_pnginfo: neither an HTTP thread nor one of the actors' shared threads waits for the pixels.
void extras(front_context& ctx, const std::string& body, bool batch, const reply_fn& reply) {
  ctx.with_stored_options(reply, [&ctx, body, batch, reply](sdw::options& stored) {
    extras_settings settings;
    settings.enable_pnginfo = stored.enable_pnginfo;
    settings.esrgan_tile = stored.ESRGAN_tile;
    settings.esrgan_tile_overlap = stored.ESRGAN_tile_overlap;
    auto work = [keep = ctx.shared_from_this(), body, batch, settings, reply](std::function<void()> done) {
      keep->system.spawn<caf::detached>([body, batch, settings, reply, done](caf::event_based_actor* self) {
        try {
          reply(extras_answer(body, batch, settings));
        } catch (const std::exception& e) {
          const std::string id = new_error_id();
          spdlog::error("{}: extras: {}", id, e.what());
          reply(json_error(500, public_error_text(e.what(), id)));
        }
        done();
        self->quit();
      });
    };
    if (!ctx.extras_line.push(std::move(work))) {
      reply(a1111_error_answer(errc::queue_full, "",
                               "Service Unavailable: " + std::to_string(ctx.extras_line.capacity()) +
                                 " extras requests are waiting already; retry later"));
    }
  });
}

/// shared.sd_upscalers: the built-ins, then the model upscalers present (read from the folders now).
std::vector<upscaler_listing> upscaler_listings() {
  std::vector<upscaler_listing> list = builtin_upscalers();
  if (const auto models = installed_model_upscalers()) {
    for (const auto& e : models->present()) list.push_back({e.name, e.model_name, e.path, std::nullopt, double(e.scale)});
  }
  return list;
}

/// The R-ESRGAN models present, in get_realesrgan_models' order.
std::vector<realesrgan_listing> realesrgan_listings() {
  std::vector<realesrgan_listing> list;
  const auto models = installed_model_upscalers();
  if (!models) return list;
  const std::vector<model_upscaler_entry> present = models->present();
  for (const auto& m : realesrgan_models()) {
    for (const auto& e : present) {
      if (e.realesrgan && e.name == m.name) list.push_back({e.name, e.path, e.scale});
    }
  }
  return list;
}

} // namespace

bool a1111_listing_open(const std::string& path) {
  // A1111's Lora extension adds these to the app itself, outside the API's authentication.
  return path == "/sdapi/v1/loras" || path == "/sdapi/v1/refresh-loras";
}

route_match match_a1111_listing(const std::string& method, const std::string& path) {
  return match_in(routes, method, path);
}

void serve_a1111_listing(front_context& ctx, const route_request& req, reply_fn reply) {
  const std::string& path = req.path;
  for (const auto& r : routes) {
    if (path == r.path && r.fixed != nullptr) {
      return reply({200, r.fixed});
    }
  }
  if (path == "/sdapi/v1/cmd-flags") {
    return reply({200, cmd_flags_json(ctx.config.flags)});
  }
  if (path == "/sdapi/v1/upscalers") {
    return reply({200, upscalers_json(upscaler_listings())});
  }
  if (path == "/sdapi/v1/realesrgan-models") {
    return reply({200, realesrgan_models_json(realesrgan_listings())});
  }
  if (path == "/sdapi/v1/latent-upscale-modes") {
    return reply({200, latent_upscale_modes_json()});
  }
  if (path == "/sdapi/v1/prompt-styles") {
    // Read on each request, so an edited styles.csv shows at once.
    return reply({200, prompt_styles_json(load_prompt_styles(ctx.config.styles_file))});
  }
  if (path == "/sdapi/v1/sd-vae" || path == "/sdapi/v1/refresh-vae") {
    const bool rescan = path == "/sdapi/v1/refresh-vae";
    return ctx.ask(
      ctx.options, quick_timeout,
      [reply, rescan](std::string& json) { reply({200, rescan ? std::string("null") : std::move(json)}); },
      [reply](caf::error&) { reply(json_error(500, "the options keeper did not answer")); }, vae_atom::value, rescan);
  }
  if (path == "/sdapi/v1/embeddings") {
    return reply({200, embeddings_answer(ctx)});
  }
  if (path == "/sdapi/v1/unload-checkpoint") {
    return checkpoint_call(ctx, unload_atom::value, reply);
  }
  if (path == "/sdapi/v1/reload-checkpoint") {
    return checkpoint_call(ctx, reload_atom::value, reply);
  }
  if (path == "/sdapi/v1/loras") {
    return list_loras(ctx, reply);
  }
  if (path == "/sdapi/v1/refresh-embeddings") {
    return refresh_embeddings(ctx, reply);
  }
  if (path == "/sdapi/v1/scripts") {
    return reply({200, scripts_json(listed_script_names(request_kind::txt2img), listed_script_names(request_kind::img2img))});
  }
  if (path == "/sdapi/v1/script-info") {
    return reply({200, script_info_json(listed_script_infos())});
  }
  if (path == "/sdapi/v1/png-info") {
    return png_info(ctx, req.body, reply);
  }
  if (path == "/sdapi/v1/interrogate") {
    return reply(interrogate_answer(req.body));
  }
  if (path == "/sdapi/v1/extra-single-image" || path == "/sdapi/v1/extra-batch-images") {
    return extras(ctx, req.body, path == "/sdapi/v1/extra-batch-images", reply);
  }
  reply({404, "{\"detail\":\"Not Found\"}"});
}

} // namespace sdw
