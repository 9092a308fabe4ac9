#include "runtime/engine/lora_keys.hpp"

#include "runtime/engine/sd1_layout.hpp"

#include <algorithm>
#include <regex>
#include <set>

namespace sdw {
namespace {

constexpr std::string_view k_weight = ".weight";

std::string underscored(std::string_view path) {
  std::string s(path);
  for (char& c : s) {
    if (c == '.') {
      c = '_';
    }
  }
  return s;
}

bool starts_with(const std::string& s, std::string_view p) { return s.compare(0, p.size(), p) == 0; }

bool ends_with(const std::string& s, std::string_view p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

// ldm's ResBlock layer names for diffusers' resnet parts (the extension's suffix_conversion).
const std::pair<const char*, const char*> k_resnet_parts[] = {
    {"conv1", "in_layers_2"},         {"conv2", "out_layers_3"},   {"norm1", "in_layers_0"},
    {"norm2", "out_layers_0"},        {"time_emb_proj", "emb_layers_1"}, {"conv_shortcut", "skip_connection"}};

std::string resnet_to_ldm(const std::string& part) {
  for (const auto& [diffusers, ldm] : k_resnet_parts) {
    if (part == diffusers) {
      return ldm;
    }
  }
  return part;
}

std::string resnet_to_diffusers(const std::string& part) {
  for (const auto& [diffusers, ldm] : k_resnet_parts) {
    if (part == ldm) {
      return diffusers;
    }
  }
  return part;
}

long long num(const std::ssub_match& m) { return std::stoll(m.str()); }

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
}

} // namespace

std::map<std::string, lora_layer> lora_layers(const model_config& config) {
  // Checkpoint key prefixes and the names A1111 gives the modules under them.
  const std::pair<std::string_view, std::string> prefixes[] = {
      {sd1_unet_prefix, "diffusion_model_"},
      {sd1_text_prefix, "transformer_text_model_"},
      {sd2_text_prefix, "model_"},
      {sdxl_text_prefix, "0_transformer_text_model_"},
      {sdxl_text2_prefix, "1_model_"}};
  constexpr std::string_view in_proj = ".attn.in_proj_weight";
  std::map<std::string, lora_layer> out;
  const auto layout = sd1_checkpoint_layout(config);
  std::set<std::string> keys;
  for (const auto& spec : layout) {
    keys.insert(spec.name);
  }
  for (const auto& spec : layout) {
    const std::string& key = spec.name;
    const auto prefix = std::find_if(std::begin(prefixes), std::end(prefixes),
                                     [&](const auto& p) { return starts_with(key, p.first); });
    if (prefix == std::end(prefixes)) {
      continue;
    }
    const bool text = prefix != std::begin(prefixes);
    const std::string path = key.substr(prefix->first.size());
    if (ends_with(path, in_proj) && spec.shape.size() == 2 && spec.shape[0] % 3 == 0) {
      // OpenCLIP's MultiheadAttention: q, k and v are thirds of in_proj_weight.
      const std::string attention = prefix->second + underscored(path.substr(0, path.size() - in_proj.size())) + "_attn";
      const int64_t rows = spec.shape[0] / 3;
      int64_t begin = 0;
      for (const char* part : {"_q_proj", "_k_proj", "_v_proj"}) {
        lora_layer layer;
        layer.weight_key = key;
        layer.kind = lora_layer_kind::linear;
        layer.text = true;
        layer.attention = attention;
        layer.row_begin = begin;
        layer.rows = rows;
        begin += rows;
        out.emplace(attention + part, std::move(layer));
      }
      continue;
    }
    if (!ends_with(key, k_weight)) {
      continue;
    }
    const std::string module = path.substr(0, path.size() - k_weight.size());
    const std::string full_module = key.substr(0, key.size() - k_weight.size());
    lora_layer layer;
    layer.weight_key = key;
    if (keys.count(full_module + ".bias") != 0) {
      layer.bias_key = full_module + ".bias";
    }
    layer.text = text;
    std::string name = prefix->second + underscored(module);
    if (text && ends_with(name, "_attn_out_proj") && keys.count(full_module.substr(0, full_module.size() - 9) + ".in_proj_weight")) {
      layer.attention = name.substr(0, name.size() - std::string_view("_out_proj").size());
    }
    const bool embedding = module.find("embedding") != std::string::npos;
    // The only one-dimensional weights are those of the GroupNorm and LayerNorm layers.
    layer.kind = spec.shape.size() == 4                 ? lora_layer_kind::conv
                 : spec.shape.size() == 2 && !embedding ? lora_layer_kind::linear
                 : spec.shape.size() == 1               ? lora_layer_kind::norm
                                                        : lora_layer_kind::other;
    out.emplace(std::move(name), std::move(layer));
  }
  return out;
}

std::string kohya_to_compvis(const std::string& key, bool sd2) {
  static const std::regex conv_in(R"(^lora_unet_conv_in(.*))");
  static const std::regex conv_out(R"(^lora_unet_conv_out(.*))");
  static const std::regex time_embed(R"(^lora_unet_time_embedding_linear_(\d+)(.*))");
  static const std::regex down(R"(^lora_unet_down_blocks_(\d+)_(attentions|resnets)_(\d+)_(.+))");
  static const std::regex mid(R"(^lora_unet_mid_block_(attentions|resnets)_(\d+)_(.+))");
  static const std::regex up(R"(^lora_unet_up_blocks_(\d+)_(attentions|resnets)_(\d+)_(.+))");
  static const std::regex downsampler(R"(^lora_unet_down_blocks_(\d+)_downsamplers_0_conv)");
  static const std::regex upsampler(R"(^lora_unet_up_blocks_(\d+)_upsamplers_0_conv)");
  static const std::regex text(R"(^lora_te_text_model_encoder_layers_(\d+)_(.+))");
  static const std::regex text2(R"(^lora_te2_text_model_encoder_layers_(\d+)_(.+))");
  std::smatch m;
  const auto part = [&](int kind, int suffix) {
    return m[kind] == "resnets" ? resnet_to_ldm(m[suffix].str()) : m[suffix].str();
  };
  if (std::regex_search(key, m, conv_in)) {
    return "diffusion_model_input_blocks_0_0" + m[1].str();
  }
  if (std::regex_search(key, m, conv_out)) {
    return "diffusion_model_out_2" + m[1].str();
  }
  if (std::regex_search(key, m, time_embed)) {
    return "diffusion_model_time_embed_" + std::to_string(num(m[1]) * 2 - 2) + m[2].str();
  }
  if (std::regex_search(key, m, down)) {
    return "diffusion_model_input_blocks_" + std::to_string(1 + num(m[1]) * 3 + num(m[3])) + "_" +
           (m[2] == "attentions" ? "1" : "0") + "_" + part(2, 4);
  }
  if (std::regex_search(key, m, mid)) {
    return "diffusion_model_middle_block_" + (m[1] == "attentions" ? std::string("1") : std::to_string(num(m[2]) * 2)) +
           "_" + part(1, 3);
  }
  if (std::regex_search(key, m, up)) {
    return "diffusion_model_output_blocks_" + std::to_string(num(m[1]) * 3 + num(m[3])) + "_" +
           (m[2] == "attentions" ? "1" : "0") + "_" + part(2, 4);
  }
  if (std::regex_search(key, m, downsampler)) {
    return "diffusion_model_input_blocks_" + std::to_string(3 + num(m[1]) * 3) + "_0_op";
  }
  if (std::regex_search(key, m, upsampler)) {
    const long long b = num(m[1]);
    return "diffusion_model_output_blocks_" + std::to_string(2 + b * 3) + "_" + (b > 0 ? "2" : "1") + "_conv";
  }
  // OpenCLIP's layer names for the HF CLIP ones kohya trains with.
  const auto open_clip = [&](const std::string& prefix) {
    std::string rest = m[2].str();
    if (rest.find("mlp_fc1") != std::string::npos) {
      replace_all(rest, "mlp_fc1", "mlp_c_fc");
    } else if (rest.find("mlp_fc2") != std::string::npos) {
      replace_all(rest, "mlp_fc2", "mlp_c_proj");
    } else {
      replace_all(rest, "self_attn", "attn");
    }
    return prefix + "transformer_resblocks_" + m[1].str() + "_" + rest;
  };
  if (std::regex_search(key, m, text)) {
    return sd2 ? open_clip("model_") : "transformer_text_model_encoder_layers_" + m[1].str() + "_" + m[2].str();
  }
  if (std::regex_search(key, m, text2)) {
    return open_clip("1_model_");
  }
  return key;
}

std::optional<std::string> find_lora_layer(const std::string& prefix, const std::map<std::string, lora_layer>& layers) {
  // A1111 tells SD2 by its OpenCLIP module list ("model_transformer_resblocks").
  const auto first_open_clip = layers.lower_bound("model_transformer_resblocks_");
  const bool sd2 = first_open_clip != layers.end() && starts_with(first_open_clip->first, "model_transformer_resblocks_");
  const std::string converted = kohya_to_compvis(prefix, sd2);
  if (layers.count(converted) != 0) {
    return converted;
  }
  const auto replaced = [&](std::string_view from, std::string_view to) -> std::optional<std::string> {
    const size_t at = prefix.find(from);
    if (at == std::string::npos) {
      return std::nullopt;
    }
    std::string key = prefix;
    key.replace(at, from.size(), to);
    if (layers.count(key) != 0) {
      return key;
    }
    return std::nullopt;
  };
  if (prefix.find("lora_unet") != std::string::npos) {
    return replaced("lora_unet", "diffusion_model");
  }
  if (prefix.find("lora_te1_text_model") != std::string::npos) {
    if (auto sdxl = replaced("lora_te1_text_model", "0_transformer_text_model")) {
      return sdxl;
    }
    return replaced("lora_te1_text_model", "transformer_text_model");
  }
  return std::nullopt;
}

std::string kohya_name_for(const std::string& layer, bool compvis_unet) {
  static const std::regex input(R"(^diffusion_model_input_blocks_(\d+)_(\d+)_(.+)$)");
  static const std::regex middle(R"(^diffusion_model_middle_block_(\d+)_(.+)$)");
  static const std::regex output(R"(^diffusion_model_output_blocks_(\d+)_(\d+)_(.+)$)");
  static const std::regex time_embed(R"(^diffusion_model_time_embed_(\d+)$)");
  static const std::regex open_clip(R"(^(1_)?model_transformer_resblocks_(\d+)_(.+)$)");
  const std::string text_prefix = "transformer_text_model_";
  std::smatch m;
  if (starts_with(layer, text_prefix)) {
    return "lora_te_text_model_" + layer.substr(text_prefix.size());
  }
  if (starts_with(layer, "0_" + text_prefix)) {
    return "lora_te1_text_model_" + layer.substr(2 + text_prefix.size());
  }
  if (std::regex_search(layer, m, open_clip)) {
    // kohya trains OpenCLIP encoders under HF CLIP's names.
    std::string rest = m[3].str();
    if (starts_with(rest, "attn_")) {
      rest = "self_" + rest;
    } else if (rest == "mlp_c_fc") {
      rest = "mlp_fc1";
    } else if (rest == "mlp_c_proj") {
      rest = "mlp_fc2";
    }
    return std::string(m[1].matched ? "lora_te2" : "lora_te") + "_text_model_encoder_layers_" + m[2].str() + "_" + rest;
  }
  if (!starts_with(layer, "diffusion_model_")) {
    return "lora_" + layer;  // a text-encoder layer kohya has no name for (OpenCLIP's ln_final)
  }
  if (compvis_unet) {
    return "lora_unet_" + layer.substr(std::string_view("diffusion_model_").size());
  }
  std::string name;
  const auto block = [](long long b, const char* kind, long long j, const std::string& rest) {
    const bool resnets = std::string(kind) == "resnets";
    return std::to_string(b) + "_" + kind + "_" + std::to_string(j) + "_" + (resnets ? resnet_to_diffusers(rest) : rest);
  };
  if (layer == "diffusion_model_input_blocks_0_0") {
    name = "lora_unet_conv_in";
  } else if (layer == "diffusion_model_out_2") {
    name = "lora_unet_conv_out";
  } else if (std::regex_search(layer, m, time_embed)) {
    name = "lora_unet_time_embedding_linear_" + std::to_string(num(m[1]) / 2 + 1);
  } else if (std::regex_search(layer, m, input)) {
    const long long i = num(m[1]), l = num(m[2]);
    if (m[3] == "op" && i >= 3 && (i - 3) % 3 == 0) {
      name = "lora_unet_down_blocks_" + std::to_string((i - 3) / 3) + "_downsamplers_0_conv";
    } else if (i >= 1 && l <= 1) {
      name = "lora_unet_down_blocks_" + block((i - 1) / 3, l == 1 ? "attentions" : "resnets", (i - 1) % 3, m[3].str());
    }
  } else if (std::regex_search(layer, m, middle)) {
    const long long k = num(m[1]);
    name = k == 1 ? "lora_unet_mid_block_attentions_0_" + m[2].str()
                  : "lora_unet_mid_block_resnets_" + std::to_string(k / 2) + "_" + resnet_to_diffusers(m[2].str());
  } else if (std::regex_search(layer, m, output)) {
    const long long i = num(m[1]), l = num(m[2]);
    if (m[3] == "conv" && i >= 2 && (i - 2) % 3 == 0) {
      name = "lora_unet_up_blocks_" + std::to_string((i - 2) / 3) + "_upsamplers_0_conv";
    } else if (l <= 1) {
      name = "lora_unet_up_blocks_" + block(i / 3, l == 1 ? "attentions" : "resnets", i % 3, m[3].str());
    }
  }
  // Only a name that converts back to this very layer will do; else the CompVis name, which
  // A1111 also takes (lora_unet → diffusion_model).
  if (name.empty() || kohya_to_compvis(name) != layer) {
    name = "lora_unet_" + layer.substr(std::string_view("diffusion_model_").size());
  }
  return name;
}

} // namespace sdw
