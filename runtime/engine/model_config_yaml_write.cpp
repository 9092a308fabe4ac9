#include "runtime/engine/model_config.hpp"

#include "runtime/base/errors.hpp"

#include <charconv>
#include <fstream>
#include <sstream>

// write_model_config_yaml: the yaml read_model_config_yaml reads back unchanged (ldm layout for
// SD1/SD2, sgm's for SDXL).

namespace sdw {
namespace {
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

std::string depth_text(const unet_config& u) {
  return u.transformer_depth_levels.empty() ? std::to_string(u.transformer_depth) : list(u.transformer_depth_levels);
}

// The UNet parameters ldm's and sgm's UNetModel share, at the depth both layouts put them.
std::string unet_params_yaml(const unet_config& u) {
  std::ostringstream y;
  y << "        in_channels: " << u.in_channels << "\n"
    << "        out_channels: " << u.out_channels << "\n"
    << "        model_channels: " << u.model_channels << "\n"
    << "        attention_resolutions: " << list(u.attention_resolutions) << "\n"
    << "        num_res_blocks: " << u.num_res_blocks << "\n"
    << "        channel_mult: " << list(u.channel_mult) << "\n"
    << "        num_heads: " << u.num_heads << "\n"
    << "        num_head_channels: " << u.num_head_channels << "\n"
    << "        use_spatial_transformer: True\n"
    << "        use_linear_in_transformer: " << (u.use_linear_in_transformer ? "True" : "False") << "\n"
    << "        transformer_depth: " << depth_text(u) << "\n";
  return y.str();
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
    << unet_params_yaml(u)
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
    << unet_params_yaml(u)
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

} // namespace sdw
