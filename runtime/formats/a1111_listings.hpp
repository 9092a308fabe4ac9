#pragma once
/// The bodies of A1111's listing routes (/sdapi/v1/upscalers, /latent-upscale-modes,
/// /face-restorers, /realesrgan-models, /prompt-styles, /embeddings, /scripts, /script-info, ...)
/// in the shapes of A1111 1.9.4's response models (modules/api/models.py).

#include "runtime/base/json_value.hpp"
#include "runtime/formats/prompt_styles.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sdw {

/// An upscaler as UpscalerItem lists it.
struct upscaler_listing {
  std::string name;
  std::optional<std::string> model_name;
  std::optional<std::string> model_path;
  std::optional<std::string> model_url;
  double scale = 4;  ///< UpscalerData's default; a float in the answer ("4.0")
};

/// A1111's upscalers that need no model file, as it lists them first: None, Lanczos, Nearest
/// (no model name, path or URL; scale 4).
std::vector<upscaler_listing> builtin_upscalers();

/// GET /sdapi/v1/upscalers: `[{"name","model_name","model_path","model_url","scale"}]`.
std::string upscalers_json(const std::vector<upscaler_listing>& upscalers);

/// The latent upscale modes (shared.latent_upscale_modes) in A1111's order: "Latent",
/// "Latent (antialiased)", "Latent (bicubic)", "Latent (bicubic antialiased)", "Latent (nearest)",
/// "Latent (nearest-exact)".
const std::vector<std::string>& latent_upscale_modes();

/// GET /sdapi/v1/latent-upscale-modes: `[{"name"}]`.
std::string latent_upscale_modes_json();

/// A face restorer as FaceRestorerItem lists it.
struct face_restorer_listing {
  std::string name;
  std::optional<std::string> cmd_dir;
};

/// GET /sdapi/v1/face-restorers: `[{"name","cmd_dir"}]`.
std::string face_restorers_json(const std::vector<face_restorer_listing>& restorers);

/// A RealESRGAN model as RealesrganItem lists it.
struct realesrgan_listing {
  std::string name;
  std::optional<std::string> path;
  int scale = 4;
};

/// GET /sdapi/v1/realesrgan-models: `[{"name","path","scale"}]`.
std::string realesrgan_models_json(const std::vector<realesrgan_listing>& models);

/// GET /sdapi/v1/prompt-styles: `[{"name","prompt","negative_prompt"}]` in file order.
std::string prompt_styles_json(const std::vector<prompt_style>& styles);

/// A textual-inversion embedding as EmbeddingItem lists it.
struct embedding_listing {
  std::string name;
  std::optional<std::int64_t> step;
  std::optional<std::string> sd_checkpoint;
  std::optional<std::string> sd_checkpoint_name;
  std::int64_t shape = 0;
  std::int64_t vectors = 0;
};

/// GET /sdapi/v1/embeddings: `{"loaded":{name:{"step","sd_checkpoint","sd_checkpoint_name","shape",
/// "vectors"}},"skipped":{…}}` in the given orders; with none, `{"loaded":{},"skipped":{}}`.
std::string embeddings_json(const std::vector<embedding_listing>& loaded = {},
                            const std::vector<embedding_listing>& skipped = {});

/// GET /sdapi/v1/scripts: `{"txt2img":[names],"img2img":[names]}` (lower-case titles).
std::string scripts_json(const std::vector<std::string>& txt2img, const std::vector<std::string>& img2img);

/// One argument of a script as ScriptArg shows it; absent values are null.
struct script_arg {
  std::string label;
  json_value value;
  json_value minimum;
  json_value maximum;
  json_value step;
  std::optional<std::vector<std::string>> choices;
};

/// A script as ScriptInfo shows it.
struct script_info {
  std::string name;
  bool is_alwayson = false;
  bool is_img2img = false;
  std::vector<script_arg> args;
};

/// GET /sdapi/v1/script-info: `[{"name","is_alwayson","is_img2img","args":[{"label","value",
/// "minimum","maximum","step","choices"}]}]`.
std::string script_info_json(const std::vector<script_info>& scripts);

} // namespace sdw
