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

} // namespace

bool operator==(const unet_config& a, const unet_config& b) {
  return a.in_channels == b.in_channels && a.out_channels == b.out_channels && a.model_channels == b.model_channels &&
         a.channel_mult == b.channel_mult && a.num_res_blocks == b.num_res_blocks &&
         same_set(a.attention_resolutions, b.attention_resolutions) && a.num_heads == b.num_heads &&
         a.num_head_channels == b.num_head_channels && a.transformer_depth == b.transformer_depth &&
         a.context_dim == b.context_dim && a.use_linear_in_transformer == b.use_linear_in_transformer;
}

bool operator==(const vae_config& a, const vae_config& b) {
  return a.ch == b.ch && a.ch_mult == b.ch_mult && a.num_res_blocks == b.num_res_blocks &&
         a.z_channels == b.z_channels && a.embed_dim == b.embed_dim && a.in_channels == b.in_channels &&
         a.out_ch == b.out_ch && a.scale_factor == b.scale_factor;
}

bool operator==(const text_encoder_config& a, const text_encoder_config& b) {
  return a.vocab_size == b.vocab_size && a.max_positions == b.max_positions && a.width == b.width &&
         a.layers == b.layers && a.heads == b.heads && a.intermediate == b.intermediate &&
         a.open_clip == b.open_clip && (!a.open_clip || a.open_clip_layer_idx == b.open_clip_layer_idx);
}

bool operator==(const model_config& a, const model_config& b) {
  return a.unet == b.unet && a.vae == b.vae && a.text == b.text && a.linear_start == b.linear_start &&
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
  if (target.rfind("sgm.", 0) == 0)
    throw error(errc::bad_checkpoint, yaml_path, "key 'model.target': SDXL models (" + target + ") are not supported yet");
  YAML::Node params = r.map(model, "model", "params", true);
  const std::string pk = "model.params";
  if (params["conditioner_config"].IsDefined())
    r.fail(pk + ".conditioner_config", "SDXL models are not supported yet");
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

  const std::string uk = pk + ".unet_config.params";
  YAML::Node unet = r.map(r.map(params, pk, "unet_config", false), pk + ".unet_config", "params", false);
  auto& u = c.unet;
  r.read(unet, uk, "in_channels", u.in_channels);
  r.read(unet, uk, "out_channels", u.out_channels);
  r.read(unet, uk, "model_channels", u.model_channels);
  r.read(unet, uk, "channel_mult", u.channel_mult);
  r.read(unet, uk, "num_res_blocks", u.num_res_blocks);
  r.read(unet, uk, "attention_resolutions", u.attention_resolutions);
  r.read(unet, uk, "num_heads", u.num_heads);
  r.read(unet, uk, "num_head_channels", u.num_head_channels);
  r.read(unet, uk, "transformer_depth", u.transformer_depth);
  r.read(unet, uk, "context_dim", u.context_dim);
  r.read(unet, uk, "use_linear_in_transformer", u.use_linear_in_transformer);
  for (auto [name, v] : named_ints{{"in_channels", u.in_channels}, {"out_channels", u.out_channels},
                         {"model_channels", u.model_channels}, {"num_res_blocks", u.num_res_blocks},
                         {"transformer_depth", u.transformer_depth}, {"context_dim", u.context_dim}})
    r.positive(uk + "." + name, v);
  r.positive_list(uk + ".channel_mult", u.channel_mult);
  if (u.num_head_channels == -1)
    r.positive(uk + ".num_heads", u.num_heads);
  else
    r.positive(uk + ".num_head_channels", u.num_head_channels);

  const std::string fk = pk + ".first_stage_config.params";
  YAML::Node first = r.map(r.map(params, pk, "first_stage_config", false), pk + ".first_stage_config", "params", false);
  auto& v = c.vae;
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
  const std::string tk = pk + ".cond_stage_config.params.text_model";
  YAML::Node text = cond_params.IsDefined() ? r.map(cond_params, pk + ".cond_stage_config.params", "text_model", false)
                                            : YAML::Node();
  auto& t = c.text;
  r.read(text, tk, "width", t.width);
  r.read(text, tk, "layers", t.layers);
  r.read(text, tk, "heads", t.heads);
  r.read(text, tk, "intermediate", t.intermediate);
  r.read(text, tk, "vocab_size", t.vocab_size);
  r.read(text, tk, "max_positions", t.max_positions);
  for (auto [name, x] : named_ints{{"width", t.width}, {"layers", t.layers}, {"heads", t.heads},
                         {"intermediate", t.intermediate}, {"vocab_size", t.vocab_size},
                         {"max_positions", t.max_positions}})
    r.positive(tk + "." + name, x);
  if (t.width % t.heads != 0) r.fail(tk + ".heads", "must divide width " + std::to_string(t.width));
  return c;
}

void write_model_config_yaml(const model_config& c, const std::string& yaml_path) {
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
    << "        transformer_depth: " << u.transformer_depth << "\n"
    << "        context_dim: " << u.context_dim << "\n"
    << "        use_checkpoint: True\n"
    << "        legacy: False\n"
    << "    first_stage_config:\n"
    << "      target: ldm.models.autoencoder.AutoencoderKL\n"
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
    << "          target: torch.nn.Identity\n"
    << "    cond_stage_config:\n"
    << "      target: ldm.modules.encoders.modules." << (t.open_clip ? "FrozenOpenCLIPEmbedder" : "FrozenCLIPEmbedder") << "\n"
    << "      params:\n"
    << (t.open_clip ? std::string("        freeze: True\n        layer: \"") +
                          (t.open_clip_layer_idx == 1 ? "penultimate" : "last") + "\"\n"
                    : std::string())
    << "        # sdworker extension: the size of the CLIP text transformer\n"
    << "        text_model:\n"
    << "          width: " << t.width << "\n"
    << "          layers: " << t.layers << "\n"
    << "          heads: " << t.heads << "\n"
    << "          intermediate: " << t.intermediate << "\n"
    << "          vocab_size: " << t.vocab_size << "\n"
    << "          max_positions: " << t.max_positions << "\n";
  std::ofstream out(yaml_path, std::ios::binary | std::ios::trunc);
  out << y.str();
  out.close();
  if (!out) throw error(errc::internal, yaml_path, "cannot write model config file");
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
  in("unet.context_dim", u.context_dim, 1, 16384);
  const auto& v = c.vae;
  in("vae.ch", v.ch, 1, 8192);
  levels("vae.ch_mult", v.ch_mult);
  in("vae.num_res_blocks", v.num_res_blocks, 1, 64);
  in("vae.z_channels", v.z_channels, 1, 64);
  in("vae.embed_dim", v.embed_dim, 1, 64);
  in("vae.in_channels", v.in_channels, 1, 64);
  in("vae.out_ch", v.out_ch, 1, 64);
  if (!(v.scale_factor > 0 && v.scale_factor < 1e6)) fail("vae.scale_factor", "must be a positive number");
  const auto& t = c.text;
  in("text.vocab_size", t.vocab_size, 1, 1 << 20);
  in("text.max_positions", t.max_positions, 1, 16384);
  in("text.width", t.width, 1, 16384);
  in("text.layers", t.layers, 1, 256);
  in("text.heads", t.heads, 1, 1024);
  in("text.intermediate", t.intermediate, 1, 65536);
  if (t.width % t.heads != 0) fail("text.heads", "(" + std::to_string(t.heads) + ") must divide text.width " + std::to_string(t.width));
  if (t.open_clip) in("text.open_clip_layer_idx", t.open_clip_layer_idx, 0, t.layers - 1);
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
