#include "runtime/engine/model_config.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/engine/model_detect.hpp"
#include "runtime/engine/safetensors.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace sdw {

namespace {

// attention_resolutions is a set of downscale factors; ldm lists it in either order.
bool same_set(std::vector<int> a, std::vector<int> b) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return a == b;
}

// The depths the network is built with: those of the levels with attention, and the middle block's.
std::vector<int> used_depths(const unet_config& u) {
  std::vector<int> d;
  int ds = 1;
  for (size_t level = 0; level < u.channel_mult.size(); ++level, ds *= 2)
    if (std::find(u.attention_resolutions.begin(), u.attention_resolutions.end(), ds) != u.attention_resolutions.end())
      d.push_back(level < u.transformer_depth_levels.size() || u.transformer_depth_levels.empty()
                      ? level_transformer_depth(u, level)
                      : -1);
  d.push_back(middle_transformer_depth(u));
  return d;
}

} // namespace

bool operator==(const unet_config& a, const unet_config& b) {
  return a.in_channels == b.in_channels && a.out_channels == b.out_channels && a.model_channels == b.model_channels &&
         a.channel_mult == b.channel_mult && a.num_res_blocks == b.num_res_blocks &&
         same_set(a.attention_resolutions, b.attention_resolutions) && a.num_heads == b.num_heads &&
         a.num_head_channels == b.num_head_channels && used_depths(a) == used_depths(b) &&
         a.context_dim == b.context_dim && a.use_linear_in_transformer == b.use_linear_in_transformer &&
         a.adm_in_channels == b.adm_in_channels;
}

bool operator==(const vae_config& a, const vae_config& b) {
  return a.ch == b.ch && a.ch_mult == b.ch_mult && a.num_res_blocks == b.num_res_blocks &&
         a.z_channels == b.z_channels && a.embed_dim == b.embed_dim && a.in_channels == b.in_channels &&
         a.out_ch == b.out_ch && a.scale_factor == b.scale_factor;
}

bool operator==(const text_encoder_config& a, const text_encoder_config& b) {
  return a.vocab_size == b.vocab_size && a.max_positions == b.max_positions && a.width == b.width &&
         a.layers == b.layers && a.heads == b.heads && a.intermediate == b.intermediate &&
         a.open_clip == b.open_clip && a.final_norm == b.final_norm && a.projection_dim == b.projection_dim &&
         ((!a.open_clip && a.final_norm) || a.open_clip_layer_idx == b.open_clip_layer_idx);
}

bool operator==(const model_config& a, const model_config& b) {
  return a.unet == b.unet && a.vae == b.vae && a.text == b.text && a.text2 == b.text2 && a.linear_start == b.linear_start &&
         a.linear_end == b.linear_end && a.timesteps == b.timesteps && a.parameterization == b.parameterization &&
         a.test_for_v_prediction == b.test_for_v_prediction;
}

text_encoder_config open_clip_vit_h() {
  text_encoder_config t;
  t.width = 1024;
  t.layers = 24;
  t.heads = 16;
  t.intermediate = 4096;
  t.open_clip = true;
  return t;
}

text_encoder_config sdxl_clip_l() {
  text_encoder_config t;
  t.open_clip_layer_idx = 1;  // hidden_states[11] of 12 layers
  t.final_norm = false;
  return t;
}

text_encoder_config sdxl_open_clip_bigg() {
  text_encoder_config t = open_clip_vit_h();
  t.width = 1280;
  t.layers = 32;
  t.heads = 20;
  t.intermediate = 5120;
  t.open_clip_layer_idx = 1;  // "penultimate"
  t.final_norm = false;
  t.projection_dim = 1280;
  return t;
}

const char* model_family(const model_config& c) { return is_sdxl(c) ? "sdxl" : is_sd2(c) ? "sd2" : "sd1"; }

const char* to_string(prediction p) { return p == prediction::v ? "v" : "eps"; }

std::string config_path_for(const std::string& checkpoint_path) {
  return std::filesystem::path(checkpoint_path).replace_extension(".yaml").string();
}

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

std::string fmt(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // keep it a float for yaml readers
  return s;
}

std::string list(const std::vector<int>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

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

namespace {

std::string depth_text(const unet_config& u) {
  return u.transformer_depth_levels.empty() ? std::to_string(u.transformer_depth) : list(u.transformer_depth_levels);
}

std::string vae_yaml(const vae_config& v, const char* target) {
  std::ostringstream y;
  y << "    first_stage_config:\n"
    << "      target: " << target << "\n"
    << "      params:\n"
    << "        embed_dim: " << v.embed_dim << "\n"
    << "        monitor: val/rec_loss\n"
    << "        ddconfig:\n"
    << "          double_z: true\n"
    << "          z_channels: " << v.z_channels << "\n"
    << "          in_channels: " << v.in_channels << "\n"
    << "          out_ch: " << v.out_ch << "\n"
    << "          ch: " << v.ch << "\n"
    << "          ch_mult: " << list(v.ch_mult) << "\n"
    << "          num_res_blocks: " << v.num_res_blocks << "\n"
    << "          attn_resolutions: []\n"
    << "          dropout: 0.0\n"
    << "        lossconfig:\n"
    << "          target: torch.nn.Identity\n";
  return y.str();
}

std::string text_model_yaml(const text_encoder_config& t, const std::string& indent) {
  std::ostringstream y;
  y << indent << "# sdworker extension: the size of the CLIP text transformer\n"
    << indent << "text_model:\n"
    << indent << "  width: " << t.width << "\n"
    << indent << "  layers: " << t.layers << "\n"
    << indent << "  heads: " << t.heads << "\n"
    << indent << "  intermediate: " << t.intermediate << "\n"
    << indent << "  vocab_size: " << t.vocab_size << "\n"
    << indent << "  max_positions: " << t.max_positions << "\n";
  if (t.projection_dim > 0) y << indent << "  projection_dim: " << t.projection_dim << "\n";
  return y.str();
}

void write_text(const std::string& text, const std::string& yaml_path) {
  std::ofstream out(yaml_path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw error(errc::internal, yaml_path, "cannot write model config file");
}

// SDXL base as sgm's sd_xl_base.yaml lays it out.
std::string sgm_yaml(const model_config& c) {
  const auto& u = c.unet;
  const auto& l = c.text;
  const auto& g = *c.text2;
  std::ostringstream y;
  y << "model:\n"
    << "  target: sgm.models.diffusion.DiffusionEngine\n"
    << "  params:\n"
    << "    scale_factor: " << fmt(c.vae.scale_factor) << "\n"
    << "    disable_first_stage_autocast: True\n"
    << "    denoiser_config:\n"
    << "      target: sgm.modules.diffusionmodules.denoiser.DiscreteDenoiser\n"
    << "      params:\n"
    << "        num_idx: " << c.timesteps << "\n"
    << "        weighting_config:\n"
    << "          target: sgm.modules.diffusionmodules.denoiser_weighting."
    << (c.parameterization == prediction::v ? "VWeighting" : "EpsWeighting") << "\n"
    << "        scaling_config:\n"
    << "          target: sgm.modules.diffusionmodules.denoiser_scaling."
    << (c.parameterization == prediction::v ? "VScaling" : "EpsScaling") << "\n"
    << "        discretization_config:\n"
    << "          target: sgm.modules.diffusionmodules.discretizer.LegacyDDPMDiscretization\n"
    << "          params:\n"
    << "            linear_start: " << fmt(c.linear_start) << "\n"
    << "            linear_end: " << fmt(c.linear_end) << "\n"
    << "            num_timesteps: " << c.timesteps << "\n"
    << "    network_config:\n"
    << "      target: sgm.modules.diffusionmodules.openaimodel.UNetModel\n"
    << "      params:\n"
    << "        adm_in_channels: " << u.adm_in_channels << "\n"
    << "        num_classes: sequential\n"
    << "        use_checkpoint: True\n"
    << "        in_channels: " << u.in_channels << "\n"
    << "        out_channels: " << u.out_channels << "\n"
    << "        model_channels: " << u.model_channels << "\n"
    << "        attention_resolutions: " << list(u.attention_resolutions) << "\n"
    << "        num_res_blocks: " << u.num_res_blocks << "\n"
    << "        channel_mult: " << list(u.channel_mult) << "\n"
    << "        num_heads: " << u.num_heads << "\n"
    << "        num_head_channels: " << u.num_head_channels << "\n"
    << "        use_spatial_transformer: True\n"
    << "        use_linear_in_transformer: " << (u.use_linear_in_transformer ? "True" : "False") << "\n"
    << "        transformer_depth: " << depth_text(u) << "\n"
    << (u.transformer_depth_middle >= 0
            ? "        transformer_depth_middle: " + std::to_string(u.transformer_depth_middle) + "\n"
            : std::string())
    << "        context_dim: " << u.context_dim << "\n"
    << "        spatial_transformer_attn_type: softmax-xformers\n"
    << "        legacy: False\n"
    << "    conditioner_config:\n"
    << "      target: sgm.modules.GeneralConditioner\n"
    << "      params:\n"
    << "        emb_models:\n"
    << "          - is_trainable: False\n"
    << "            input_key: txt\n"
    << "            target: sgm.modules.encoders.modules.FrozenCLIPEmbedder\n"
    << "            params:\n"
    << (l.final_norm ? std::string("              layer: last\n")
                     : "              layer: hidden\n              layer_idx: " +
                           std::to_string(l.layers - l.open_clip_layer_idx) + "\n")
    << text_model_yaml(l, "              ")
    << "          - is_trainable: False\n"
    << "            input_key: txt\n"
    << "            target: sgm.modules.encoders.modules.FrozenOpenCLIPEmbedder2\n"
    << "            params:\n"
    << "              arch: ViT-bigG-14\n"
    << "              version: laion2b_s39b_b160k\n"
    << "              freeze: True\n"
    << "              layer: " << (g.open_clip_layer_idx == 1 ? "penultimate" : "last") << "\n"
    << "              always_return_pooled: True\n"
    << "              legacy: False\n"
    << text_model_yaml(g, "              ");
  for (const char* key : {"original_size_as_tuple", "crop_coords_top_left", "target_size_as_tuple"})
    y << "          - is_trainable: False\n"
      << "            input_key: " << key << "\n"
      << "            target: sgm.modules.encoders.modules.ConcatTimestepEmbedderND\n"
      << "            params:\n"
      << "              outdim: " << sdxl_size_embedding_dim << "\n";
  y << vae_yaml(c.vae, "sgm.models.autoencoder.AutoencoderKLInferenceWrapper");
  return y.str();
}

} // namespace

void write_model_config_yaml(const model_config& c, const std::string& yaml_path) {
  if (is_sdxl(c)) {
    write_text(sgm_yaml(c), yaml_path);
    return;
  }
  const auto& u = c.unet;
  const auto& v = c.vae;
  const auto& t = c.text;
  std::ostringstream y;
  y << "model:\n"
    << "  target: ldm.models.diffusion.ddpm." << (is_inpainting(c) ? "LatentInpaintDiffusion" : "LatentDiffusion") << "\n"
    << "  params:\n"
    << "    linear_start: " << fmt(c.linear_start) << "\n"
    << "    linear_end: " << fmt(c.linear_end) << "\n"
    << (c.parameterization == prediction::v ? "    parameterization: \"v\"\n" : "")
    << "    num_timesteps_cond: 1\n"
    << "    timesteps: " << c.timesteps << "\n"
    << "    first_stage_key: \"jpg\"\n"
    << "    cond_stage_key: \"txt\"\n"
    << "    channels: " << u.out_channels << "\n"
    << "    cond_stage_trainable: false\n"
    << "    conditioning_key: " << (is_inpainting(c) ? "hybrid" : "crossattn") << "\n"
    << "    scale_factor: " << fmt(v.scale_factor) << "\n"
    << "    use_ema: False\n"
    << "    unet_config:\n"
    << "      target: ldm.modules.diffusionmodules.openaimodel.UNetModel\n"
    << "      params:\n"
    << "        in_channels: " << u.in_channels << "\n"
    << "        out_channels: " << u.out_channels << "\n"
    << "        model_channels: " << u.model_channels << "\n"
    << "        attention_resolutions: " << list(u.attention_resolutions) << "\n"
    << "        num_res_blocks: " << u.num_res_blocks << "\n"
    << "        channel_mult: " << list(u.channel_mult) << "\n"
    << "        num_heads: " << u.num_heads << "\n"
    << "        num_head_channels: " << u.num_head_channels << "\n"
    << "        use_spatial_transformer: True\n"
    << "        use_linear_in_transformer: " << (u.use_linear_in_transformer ? "True" : "False") << "\n"
    << "        transformer_depth: " << depth_text(u) << "\n"
    << "        context_dim: " << u.context_dim << "\n"
    << "        use_checkpoint: True\n"
    << "        legacy: False\n"
    << vae_yaml(v, "ldm.models.autoencoder.AutoencoderKL")
    << "    cond_stage_config:\n"
    << "      target: ldm.modules.encoders.modules." << (t.open_clip ? "FrozenOpenCLIPEmbedder" : "FrozenCLIPEmbedder") << "\n"
    << "      params:\n"
    << (t.open_clip ? std::string("        freeze: True\n        layer: \"") +
                          (t.open_clip_layer_idx == 1 ? "penultimate" : "last") + "\"\n"
                    : std::string())
    << text_model_yaml(t, "        ");
  write_text(y.str(), yaml_path);
}

void check_model_config(const model_config& c, const std::string& file) {
  auto fail = [&](const std::string& field, const std::string& why) {
    throw error(errc::bad_checkpoint, file,
                field + " " + why + "; model config: " + (c.source.empty() ? std::string("defaults") : c.source));
  };
  auto in = [&](const char* field, long long v, long long lo, long long hi) {
    if (v < lo || v > hi)
      fail(field, "is " + std::to_string(v) + ", expected " + std::to_string(lo) + ".." + std::to_string(hi));
  };
  auto levels = [&](const char* field, const std::vector<int>& mult) {
    in(field, static_cast<long long>(mult.size()), 1, 16);
    for (int m : mult) in(field, m, 1, 64);
  };
  const auto& u = c.unet;
  in("unet.in_channels", u.in_channels, 1, 64);
  in("unet.out_channels", u.out_channels, 1, 64);
  in("unet.model_channels", u.model_channels, 1, 8192);
  levels("unet.channel_mult", u.channel_mult);
  in("unet.num_res_blocks", u.num_res_blocks, 1, 64);
  for (int r : u.attention_resolutions) in("unet.attention_resolutions", r, 1, 1 << 16);
  if (u.num_head_channels == -1) {
    in("unet.num_heads", u.num_heads, 1, 1024);
  } else {
    in("unet.num_head_channels", u.num_head_channels, 1, 8192);
    for (int m : u.channel_mult)
      if ((static_cast<long long>(u.model_channels) * m) % u.num_head_channels != 0)
        fail("unet.num_head_channels", "(" + std::to_string(u.num_head_channels) + ") must divide every level's channels (" +
                                         std::to_string(static_cast<long long>(u.model_channels) * m) + ")");
  }
  in("unet.transformer_depth", u.transformer_depth, 1, 64);
  if (!u.transformer_depth_levels.empty()) {
    if (u.transformer_depth_levels.size() != u.channel_mult.size())
      fail("unet.transformer_depth_levels", "has " + std::to_string(u.transformer_depth_levels.size()) +
                                                " depths for " + std::to_string(u.channel_mult.size()) + " levels");
    for (int d : u.transformer_depth_levels) in("unet.transformer_depth_levels", d, 0, 64);
  }
  if (u.transformer_depth_middle != -1) in("unet.transformer_depth_middle", u.transformer_depth_middle, 0, 64);
  in("unet.context_dim", u.context_dim, 1, 16384);
  in("unet.adm_in_channels", u.adm_in_channels, 0, 65536);
  const auto& v = c.vae;
  in("vae.ch", v.ch, 1, 8192);
  levels("vae.ch_mult", v.ch_mult);
  in("vae.num_res_blocks", v.num_res_blocks, 1, 64);
  in("vae.z_channels", v.z_channels, 1, 64);
  in("vae.embed_dim", v.embed_dim, 1, 64);
  in("vae.in_channels", v.in_channels, 1, 64);
  in("vae.out_ch", v.out_ch, 1, 64);
  if (!(v.scale_factor > 0 && v.scale_factor < 1e6)) fail("vae.scale_factor", "must be a positive number");
  auto text = [&](const std::string& k, const text_encoder_config& t) {
    auto field = [&](const char* name) { return k + "." + name; };
    in(field("vocab_size").c_str(), t.vocab_size, 1, 1 << 20);
    in(field("max_positions").c_str(), t.max_positions, 1, 16384);
    in(field("width").c_str(), t.width, 1, 16384);
    in(field("layers").c_str(), t.layers, 1, 256);
    in(field("heads").c_str(), t.heads, 1, 1024);
    in(field("intermediate").c_str(), t.intermediate, 1, 65536);
    if (t.width % t.heads != 0)
      fail(field("heads"), "(" + std::to_string(t.heads) + ") must divide " + field("width") + " " + std::to_string(t.width));
    if (t.open_clip || !t.final_norm) in(field("open_clip_layer_idx").c_str(), t.open_clip_layer_idx, 0, t.layers - 1);
    in(field("projection_dim").c_str(), t.projection_dim, 0, 16384);
  };
  text("text", c.text);
  if (c.text2) {
    text("text2", *c.text2);
    const auto& g = *c.text2;
    if (c.text.open_clip || !g.open_clip) fail("text2", "must be OpenCLIP beside a CLIP ViT-L text (SDXL base)");
    if (g.projection_dim < 1) fail("text2.projection_dim", "must be positive: SDXL's pooled vector goes through it");
    const long long adm = g.projection_dim + static_cast<long long>(sdxl_size_embeddings) * sdxl_size_embedding_dim;
    if (u.adm_in_channels != adm)
      fail("unet.adm_in_channels", "is " + std::to_string(u.adm_in_channels) + ", expected text2.projection_dim + 6·256 = " +
                                       std::to_string(adm));
    if (u.context_dim != c.text.width + g.width)
      fail("unet.context_dim", "is " + std::to_string(u.context_dim) + ", expected the two text widths' sum " +
                                   std::to_string(c.text.width + g.width));
  } else if (u.adm_in_channels != 0) {
    fail("unet.adm_in_channels", "is " + std::to_string(u.adm_in_channels) + ": only SDXL base UNets take a y vector");
  }
  in("timesteps", c.timesteps, 1, 100000);
}

model_config load_model_config(const std::string& checkpoint_path, const safetensors_file& file) {
  refuse_unsupported_architecture(file);
  const std::string yaml = config_path_for(checkpoint_path);
  std::error_code ec;
  model_config c = std::filesystem::is_regular_file(yaml, ec) ? read_model_config_yaml(yaml) : detect_model_config(file);
  if (c.unet.in_channels == 8)
    throw error(errc::bad_checkpoint, file.path(), "instruct-pix2pix models (8-channel UNet input) are not supported yet");
  check_model_config(c, file.path());
  return c;
}

} // namespace sdw
