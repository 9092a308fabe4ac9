#include "runtime/engine/model_config.hpp"

#include "runtime/base/errors.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>

// read_model_config_yaml: an ldm- or sgm-style yaml beside a checkpoint, every error naming the
// file and the dotted key.

namespace sdw {
namespace {

using named_ints = std::initializer_list<std::pair<const char*, int>>;

// Reads typed values out of the yaml, naming the file and the dotted key in every error.
class yaml_reader {
public:
  explicit yaml_reader(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void fail(const std::string& key, const std::string& message) const {
    throw error(errc::bad_checkpoint, path_, "key '" + key + "': " + message);
  }

  YAML::Node map(const YAML::Node& parent, const std::string& parent_key, const char* name, bool required) const {
    const std::string key = parent_key.empty() ? name : parent_key + "." + name;
    YAML::Node n = parent[name];
    if (!n.IsDefined() || n.IsNull()) {
      if (required) fail(key, "missing");
      return YAML::Node();
    }
    if (!n.IsMap()) fail(key, "expected a mapping");
    return n;
  }

  template <class T>
  void read(const YAML::Node& parent, const std::string& parent_key, const char* name, T& out) const {
    if (!parent.IsDefined() || parent.IsNull()) return;
    YAML::Node n = parent[name];
    if (!n.IsDefined() || n.IsNull()) return;
    const std::string key = parent_key + "." + name;
    try {
      out = n.as<T>();
    } catch (const YAML::Exception&) {
      fail(key, std::string("expected ") + describe(out) + ", found '" + YAML::Dump(n) + "'");
    }
  }

  void positive(const std::string& key, int v) const {
    if (v <= 0) fail(key, "must be positive, found " + std::to_string(v));
  }
  void positive_list(const std::string& key, const std::vector<int>& v) const {
    if (v.empty()) fail(key, "must not be empty");
    for (int x : v)
      if (x <= 0) fail(key, "entries must be positive, found " + std::to_string(x));
  }

private:
  static const char* describe(int) { return "an integer"; }
  static const char* describe(double) { return "a number"; }
  static const char* describe(bool) { return "a boolean"; }
  static const char* describe(const std::string&) { return "a string"; }
  static const char* describe(const std::vector<int>&) { return "a list of integers"; }

  std::string path_;
};

} // namespace

namespace {

// The UNet's params, the same keys in ldm's unet_config and sgm's network_config.
void read_unet(const yaml_reader& r, const YAML::Node& unet, const std::string& uk, unet_config& u) {
  r.read(unet, uk, "in_channels", u.in_channels);
  r.read(unet, uk, "out_channels", u.out_channels);
  r.read(unet, uk, "model_channels", u.model_channels);
  r.read(unet, uk, "channel_mult", u.channel_mult);
  r.read(unet, uk, "num_res_blocks", u.num_res_blocks);
  r.read(unet, uk, "attention_resolutions", u.attention_resolutions);
  r.read(unet, uk, "num_heads", u.num_heads);
  r.read(unet, uk, "num_head_channels", u.num_head_channels);
  // sgm takes a list (one depth per level) where ldm takes one number.
  const YAML::Node depth = unet.IsDefined() && unet.IsMap() ? unet["transformer_depth"] : YAML::Node();
  if (depth.IsDefined() && depth.IsSequence()) {
    r.read(unet, uk, "transformer_depth", u.transformer_depth_levels);
    if (u.transformer_depth_levels.size() != u.channel_mult.size())
      r.fail(uk + ".transformer_depth", "needs one depth per channel_mult level (" +
                                          std::to_string(u.channel_mult.size()) + ")");
    for (int d : u.transformer_depth_levels)
      if (d < 0) r.fail(uk + ".transformer_depth", "depths must not be negative, found " + std::to_string(d));
  } else {
    r.read(unet, uk, "transformer_depth", u.transformer_depth);
    r.positive(uk + ".transformer_depth", u.transformer_depth);
  }
  r.read(unet, uk, "transformer_depth_middle", u.transformer_depth_middle);
  r.read(unet, uk, "context_dim", u.context_dim);
  r.read(unet, uk, "use_linear_in_transformer", u.use_linear_in_transformer);
  for (auto [name, v] : named_ints{{"in_channels", u.in_channels}, {"out_channels", u.out_channels},
                         {"model_channels", u.model_channels}, {"num_res_blocks", u.num_res_blocks},
                         {"context_dim", u.context_dim}})
    r.positive(uk + "." + name, v);
  r.positive_list(uk + ".channel_mult", u.channel_mult);
  if (u.num_head_channels == -1)
    r.positive(uk + ".num_heads", u.num_heads);
  else
    r.positive(uk + ".num_head_channels", u.num_head_channels);
}

void read_vae(const yaml_reader& r, const YAML::Node& params, const std::string& pk, vae_config& v) {
  const std::string fk = pk + ".first_stage_config.params";
  YAML::Node first = r.map(r.map(params, pk, "first_stage_config", false), pk + ".first_stage_config", "params", false);
  r.read(first, fk, "embed_dim", v.embed_dim);
  YAML::Node dd = first.IsDefined() ? r.map(first, fk, "ddconfig", false) : YAML::Node();
  const std::string dk = fk + ".ddconfig";
  r.read(dd, dk, "ch", v.ch);
  r.read(dd, dk, "ch_mult", v.ch_mult);
  r.read(dd, dk, "num_res_blocks", v.num_res_blocks);
  r.read(dd, dk, "z_channels", v.z_channels);
  r.read(dd, dk, "in_channels", v.in_channels);
  r.read(dd, dk, "out_ch", v.out_ch);
  for (auto [name, x] : named_ints{{"ch", v.ch}, {"num_res_blocks", v.num_res_blocks}, {"z_channels", v.z_channels},
                         {"in_channels", v.in_channels}, {"out_ch", v.out_ch}})
    r.positive(dk + "." + name, x);
  r.positive(fk + ".embed_dim", v.embed_dim);
  r.positive_list(dk + ".ch_mult", v.ch_mult);
}

// The sdworker extension `text_model` under an embedder's params: the text transformer's sizes.
void read_text_model(const yaml_reader& r, const YAML::Node& cond_params, const std::string& ck,
                     text_encoder_config& t) {
  const std::string tk = ck + ".text_model";
  YAML::Node text = cond_params.IsDefined() ? r.map(cond_params, ck, "text_model", false) : YAML::Node();
  r.read(text, tk, "width", t.width);
  r.read(text, tk, "layers", t.layers);
  r.read(text, tk, "heads", t.heads);
  r.read(text, tk, "intermediate", t.intermediate);
  r.read(text, tk, "vocab_size", t.vocab_size);
  r.read(text, tk, "max_positions", t.max_positions);
  if (t.projection_dim > 0) r.read(text, tk, "projection_dim", t.projection_dim);
  for (auto [name, x] : named_ints{{"width", t.width}, {"layers", t.layers}, {"heads", t.heads},
                         {"intermediate", t.intermediate}, {"vocab_size", t.vocab_size},
                         {"max_positions", t.max_positions}})
    r.positive(tk + "." + name, x);
  if (t.projection_dim != 0) r.positive(tk + ".projection_dim", t.projection_dim);
  if (t.width % t.heads != 0) r.fail(tk + ".heads", "must divide width " + std::to_string(t.width));
}

// sgm's DiffusionEngine config of SDXL base: network_config, conditioner_config (CLIP ViT-L,
// OpenCLIP bigG and the three size embedders), first_stage_config.
void read_sgm_config(const yaml_reader& r, const YAML::Node& params, const std::string& pk, model_config& c) {
  c.unet.num_heads = -1;  // sgm's UNetModel default; SDXL's configs give num_head_channels
  read_unet(r, r.map(r.map(params, pk, "network_config", true), pk + ".network_config", "params", false),
            pk + ".network_config.params", c.unet);
  const std::string uk = pk + ".network_config.params";
  YAML::Node unet = params["network_config"]["params"];
  r.read(unet, uk, "adm_in_channels", c.unet.adm_in_channels);
  std::string num_classes;
  r.read(unet, uk, "num_classes", num_classes);
  if (num_classes != "sequential" || c.unet.adm_in_channels <= 0)
    r.fail(uk + ".num_classes", "expected \"sequential\" with a positive adm_in_channels (SDXL base)");
  read_vae(r, params, pk, c.vae);

  // The denoiser: LegacyDDPMDiscretization's schedule, and v-prediction where it scales for v.
  const std::string dk = pk + ".denoiser_config.params";
  YAML::Node den = r.map(r.map(params, pk, "denoiser_config", false), pk + ".denoiser_config", "params", false);
  if (den.IsDefined()) {
    YAML::Node scaling = r.map(den, dk, "scaling_config", false);
    std::string scaling_target;
    r.read(scaling, dk + ".scaling_config", "target", scaling_target);
    if (scaling_target.find("VScaling") != std::string::npos) c.parameterization = prediction::v;
    YAML::Node disc = r.map(r.map(den, dk, "discretization_config", false), dk + ".discretization_config", "params", false);
    const std::string sk = dk + ".discretization_config.params";
    r.read(disc, sk, "linear_start", c.linear_start);
    r.read(disc, sk, "linear_end", c.linear_end);
    r.read(disc, sk, "num_timesteps", c.timesteps);
  }

  const std::string ck = pk + ".conditioner_config.params.emb_models";
  YAML::Node models = r.map(r.map(params, pk, "conditioner_config", true), pk + ".conditioner_config", "params", true)["emb_models"];
  if (!models.IsSequence()) r.fail(ck, "expected a list of embedders");
  std::vector<std::string> size_keys;
  bool clip_l = false;
  for (size_t i = 0; i < models.size(); ++i) {
    const std::string ek = ck + "[" + std::to_string(i) + "]";
    if (!models[i].IsMap()) r.fail(ek, "expected a mapping");
    std::string target, input_key;
    r.read(models[i], ek, "target", target);
    r.read(models[i], ek, "input_key", input_key);
    YAML::Node ep = r.map(models[i], ek, "params", false);
    const std::string epk = ek + ".params";
    if (target.find("FrozenOpenCLIPEmbedder2") != std::string::npos) {
      if (!clip_l) r.fail(ek + ".target", "an OpenCLIP embedder without CLIP ViT-L before it (an SDXL refiner?) is not supported");
      if (c.text2) r.fail(ek + ".target", "a second FrozenOpenCLIPEmbedder2 is not supported");
      text_encoder_config t = sdxl_open_clip_bigg();
      std::string layer = "last";  // sgm's default
      r.read(ep, epk, "layer", layer);
      if (layer != "last" && layer != "penultimate")
        r.fail(epk + ".layer", "expected \"last\" or \"penultimate\", found '" + layer + "'");
      t.open_clip_layer_idx = layer == "penultimate" ? 1 : 0;
      read_text_model(r, ep, epk, t);
      c.text2 = t;
    } else if (target.find("FrozenCLIPEmbedder") != std::string::npos && target.find("OpenCLIP") == std::string::npos) {
      if (clip_l) r.fail(ek + ".target", "a second FrozenCLIPEmbedder is not supported");
      clip_l = true;
      text_encoder_config t = sdxl_clip_l();
      read_text_model(r, ep, epk, t);
      std::string layer = "last";  // sgm's default
      r.read(ep, epk, "layer", layer);
      if (layer == "hidden") {
        int layer_idx = t.layers - 1;
        r.read(ep, epk, "layer_idx", layer_idx);
        if (layer_idx < 1 || layer_idx > t.layers)
          r.fail(epk + ".layer_idx", "expected 1.." + std::to_string(t.layers) + ", found " + std::to_string(layer_idx));
        t.open_clip_layer_idx = t.layers - layer_idx;  // hidden_states[layer_idx]: layers left out
      } else if (layer == "last") {
        t.open_clip_layer_idx = 0;
        t.final_norm = true;
      } else {
        r.fail(epk + ".layer", "expected \"hidden\" or \"last\", found '" + layer + "'");
      }
      c.text = t;
    } else if (target.find("ConcatTimestepEmbedderND") != std::string::npos) {
      int outdim = 0;
      r.read(ep, epk, "outdim", outdim);
      if (outdim != sdxl_size_embedding_dim) r.fail(epk + ".outdim", "expected 256 (SDXL base), found " + std::to_string(outdim));
      size_keys.push_back(input_key);
    } else {
      r.fail(ek + ".target", "'" + target + "' is not supported (SDXL base's embedders are)");
    }
  }
  const std::vector<std::string> base_keys{"original_size_as_tuple", "crop_coords_top_left", "target_size_as_tuple"};
  if (!c.text2) r.fail(ck, "no FrozenOpenCLIPEmbedder2 (SDXL base has CLIP ViT-L and OpenCLIP bigG)");
  if (size_keys != base_keys)
    r.fail(ck, "the size embedders must be original_size_as_tuple, crop_coords_top_left, target_size_as_tuple "
               "(SDXL base's; an SDXL refiner adds aesthetic_score and is not supported)");
}

} // namespace

model_config read_model_config_yaml(const std::string& yaml_path) {
  yaml_reader r(yaml_path);
  YAML::Node root;
  try {
    root = YAML::LoadFile(yaml_path);
  } catch (const YAML::BadFile&) {
    throw error(errc::not_found, yaml_path, "cannot read model config file");
  } catch (const YAML::ParserException& e) {
    throw error(errc::bad_checkpoint, yaml_path,
                "invalid YAML at line " + std::to_string(e.mark.line + 1) + ", column " +
                    std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  if (!root.IsMap()) throw error(errc::bad_checkpoint, yaml_path, "not an ldm model config (expected a mapping)");

  model_config c;
  c.source = yaml_path;
  YAML::Node model = r.map(root, "", "model", true);
  std::string target;
  r.read(model, "model", "target", target);
  YAML::Node params = r.map(model, "model", "params", true);
  const std::string pk = "model.params";
  if (params["network_config"].IsDefined() || params["conditioner_config"].IsDefined()) {
    r.read(params, pk, "scale_factor", c.vae.scale_factor);
    read_sgm_config(r, params, pk, c);
    r.positive(pk + ".denoiser_config.params.discretization_config.params.num_timesteps", c.timesteps);
    if (!(c.linear_start > 0 && c.linear_end > c.linear_start && c.linear_end < 1))
      r.fail(pk + ".denoiser_config.params.discretization_config.params.linear_start",
             "need 0 < linear_start < linear_end < 1");
    return c;
  }
  if (target.rfind("sgm.", 0) == 0)
    r.fail("model.params", "an sgm config (" + target + ") needs network_config and conditioner_config");
  std::string parameterization = "eps";
  r.read(params, pk, "parameterization", parameterization);
  if (parameterization == "v")
    c.parameterization = prediction::v;
  else if (parameterization != "eps")
    r.fail(pk + ".parameterization", "'" + parameterization + "' prediction models are not supported (eps and v are)");
  r.read(params, pk, "linear_start", c.linear_start);
  r.read(params, pk, "linear_end", c.linear_end);
  r.read(params, pk, "timesteps", c.timesteps);
  r.read(params, pk, "scale_factor", c.vae.scale_factor);
  r.positive(pk + ".timesteps", c.timesteps);
  if (!(c.linear_start > 0 && c.linear_end > c.linear_start && c.linear_end < 1))
    r.fail(pk + ".linear_start", "need 0 < linear_start < linear_end < 1");

  read_unet(r, r.map(r.map(params, pk, "unet_config", false), pk + ".unet_config", "params", false),
            pk + ".unet_config.params", c.unet);
  read_vae(r, params, pk, c.vae);

  YAML::Node cond = r.map(params, pk, "cond_stage_config", false);
  std::string cond_target;
  r.read(cond, pk + ".cond_stage_config", "target", cond_target);
  YAML::Node cond_params = cond.IsDefined() ? r.map(cond, pk + ".cond_stage_config", "params", false) : YAML::Node();
  if (cond_target.find("FrozenOpenCLIPEmbedder") != std::string::npos) {
    if (cond_target.find("FrozenOpenCLIPEmbedder2") != std::string::npos || cond_target.find("Image") != std::string::npos)
      r.fail(pk + ".cond_stage_config.target", "'" + cond_target + "' is not supported (SD2's FrozenOpenCLIPEmbedder is)");
    c.text = open_clip_vit_h();
    std::string layer = "last";  // ldm's default; SD2's configs say "penultimate"
    r.read(cond_params, pk + ".cond_stage_config.params", "layer", layer);
    if (layer != "last" && layer != "penultimate")
      r.fail(pk + ".cond_stage_config.params.layer", "expected \"last\" or \"penultimate\", found '" + layer + "'");
    c.text.open_clip_layer_idx = layer == "penultimate" ? 1 : 0;
  } else if (cond_target.find("OpenCLIP") != std::string::npos) {
    r.fail(pk + ".cond_stage_config.target", "'" + cond_target + "' is not supported (SD2's FrozenOpenCLIPEmbedder is)");
  }
  read_text_model(r, cond_params, pk + ".cond_stage_config.params", c.text);
  return c;
}

} // namespace sdw
