#include "runtime/engine/sd1_layout.hpp"

#include <algorithm>
#include <cmath>

namespace sdw {

namespace {

// Appends specs under a key prefix; one helper per torch module kind.
class layout_builder {
public:
  layout_builder(std::vector<tensor_spec>& out, std::string prefix) : out_(out), prefix_(std::move(prefix)) {}

  void add(const std::string& name, std::vector<int64_t> shape) { out_.push_back({prefix_ + name, std::move(shape)}); }
  void linear(const std::string& p, int64_t in, int64_t out, bool bias = true) {
    add(p + ".weight", {out, in});
    if (bias) add(p + ".bias", {out});
  }
  void conv(const std::string& p, int64_t in, int64_t out, int64_t k) {
    add(p + ".weight", {out, in, k, k});
    add(p + ".bias", {out});
  }
  void norm(const std::string& p, int64_t c) {
    add(p + ".weight", {c});
    add(p + ".bias", {c});
  }

private:
  std::vector<tensor_spec>& out_;
  std::string prefix_;
};

// ---- UNet (ldm openaimodel.UNetModel, use_spatial_transformer, legacy False) ----

void unet_res_block(layout_builder& b, const std::string& p, int64_t in, int64_t out, int64_t emb) {
  b.norm(p + ".in_layers.0", in);
  b.conv(p + ".in_layers.2", in, out, 3);
  b.linear(p + ".emb_layers.1", emb, out);
  b.norm(p + ".out_layers.0", out);
  b.conv(p + ".out_layers.3", out, out, 3);
  if (in != out) b.conv(p + ".skip_connection", in, out, 1);
}

void unet_transformer(layout_builder& b, const std::string& p, int64_t ch, const unet_config& u, int depth) {
  // Heads times head width; equals ch whenever the heads divide it, as in every SD1 model.
  int64_t heads = u.num_head_channels == -1 ? u.num_heads : ch / u.num_head_channels;
  int64_t head_dim = u.num_head_channels == -1 ? ch / u.num_heads : u.num_head_channels;
  int64_t inner = heads * head_dim;
  b.norm(p + ".norm", ch);
  if (u.use_linear_in_transformer)
    b.linear(p + ".proj_in", ch, inner);
  else
    b.conv(p + ".proj_in", ch, inner, 1);
  for (int d = 0; d < depth; ++d) {
    std::string t = p + ".transformer_blocks." + std::to_string(d);
    b.linear(t + ".attn1.to_q", inner, inner, false);
    b.linear(t + ".attn1.to_k", inner, inner, false);
    b.linear(t + ".attn1.to_v", inner, inner, false);
    b.linear(t + ".attn1.to_out.0", inner, inner);
    b.linear(t + ".ff.net.0.proj", inner, inner * 8);  // GEGLU: value and gate halves
    b.linear(t + ".ff.net.2", inner * 4, inner);
    b.linear(t + ".attn2.to_q", inner, inner, false);
    b.linear(t + ".attn2.to_k", u.context_dim, inner, false);
    b.linear(t + ".attn2.to_v", u.context_dim, inner, false);
    b.linear(t + ".attn2.to_out.0", inner, inner);
    b.norm(t + ".norm1", inner);
    b.norm(t + ".norm2", inner);
    b.norm(t + ".norm3", inner);
  }
  if (u.use_linear_in_transformer)
    b.linear(p + ".proj_out", inner, ch);
  else
    b.conv(p + ".proj_out", inner, ch, 1);
}

bool has_attention(const unet_config& u, int ds) {
  return std::find(u.attention_resolutions.begin(), u.attention_resolutions.end(), ds) != u.attention_resolutions.end();
}

void unet_layout(std::vector<tensor_spec>& out, const unet_config& u) {
  layout_builder b(out, std::string(sd1_unet_prefix));
  const int64_t mc = u.model_channels, emb = 4 * mc;
  b.linear("time_embed.0", mc, emb);
  b.linear("time_embed.2", emb, emb);
  if (u.adm_in_channels > 0) {
    b.linear("label_emb.0.0", u.adm_in_channels, emb);
    b.linear("label_emb.0.2", emb, emb);
  }
  b.conv("input_blocks.0.0", u.in_channels, mc, 3);

  std::vector<int64_t> skip_channels{mc};
  int64_t ch = mc;
  int ds = 1, n = 1;
  const int levels = static_cast<int>(u.channel_mult.size());
  for (int level = 0; level < levels; ++level) {
    for (int r = 0; r < u.num_res_blocks; ++r, ++n) {
      std::string p = "input_blocks." + std::to_string(n);
      int64_t out_ch = mc * u.channel_mult[level];
      unet_res_block(b, p + ".0", ch, out_ch, emb);
      ch = out_ch;
      if (has_attention(u, ds)) unet_transformer(b, p + ".1", ch, u, level_transformer_depth(u, level));
      skip_channels.push_back(ch);
    }
    if (level != levels - 1) {
      b.conv("input_blocks." + std::to_string(n) + ".0.op", ch, ch, 3);
      skip_channels.push_back(ch);
      ++n;
      ds *= 2;
    }
  }

  unet_res_block(b, "middle_block.0", ch, ch, emb);
  unet_transformer(b, "middle_block.1", ch, u, middle_transformer_depth(u));
  unet_res_block(b, "middle_block.2", ch, ch, emb);

  n = 0;
  for (int level = levels - 1; level >= 0; --level) {
    for (int r = 0; r <= u.num_res_blocks; ++r, ++n) {
      std::string p = "output_blocks." + std::to_string(n);
      int64_t skip = skip_channels.back();
      skip_channels.pop_back();
      int64_t out_ch = mc * u.channel_mult[level];
      unet_res_block(b, p + ".0", ch + skip, out_ch, emb);
      ch = out_ch;
      int index = 1;
      if (has_attention(u, ds))
        unet_transformer(b, p + "." + std::to_string(index++), ch, u, level_transformer_depth(u, level));
      if (level != 0 && r == u.num_res_blocks) {
        b.conv(p + "." + std::to_string(index) + ".conv", ch, ch, 3);
        ds /= 2;
      }
    }
  }
  b.norm("out.0", ch);
  b.conv("out.2", mc, u.out_channels, 3);
}

// ---- VAE (ldm AutoencoderKL with its Encoder/Decoder) ----

void vae_res_block(layout_builder& b, const std::string& p, int64_t in, int64_t out) {
  b.norm(p + ".norm1", in);
  b.conv(p + ".conv1", in, out, 3);
  b.norm(p + ".norm2", out);
  b.conv(p + ".conv2", out, out, 3);
  if (in != out) b.conv(p + ".nin_shortcut", in, out, 1);
}

void vae_attention(layout_builder& b, const std::string& p, int64_t c) {
  b.norm(p + ".norm", c);
  b.conv(p + ".q", c, c, 1);
  b.conv(p + ".k", c, c, 1);
  b.conv(p + ".v", c, c, 1);
  b.conv(p + ".proj_out", c, c, 1);
}

void vae_mid(layout_builder& b, const std::string& p, int64_t c) {
  vae_res_block(b, p + ".mid.block_1", c, c);
  vae_attention(b, p + ".mid.attn_1", c);
  vae_res_block(b, p + ".mid.block_2", c, c);
}

void vae_layout(std::vector<tensor_spec>& out, const vae_config& v) {
  layout_builder b(out, std::string(sd1_vae_prefix));
  const int levels = static_cast<int>(v.ch_mult.size());
  b.conv("encoder.conv_in", v.in_channels, v.ch, 3);
  int64_t block_in = v.ch;
  for (int i = 0; i < levels; ++i) {
    block_in = v.ch * (i == 0 ? 1 : v.ch_mult[i - 1]);
    int64_t block_out = v.ch * v.ch_mult[i];
    for (int j = 0; j < v.num_res_blocks; ++j) {
      vae_res_block(b, "encoder.down." + std::to_string(i) + ".block." + std::to_string(j), block_in, block_out);
      block_in = block_out;
    }
    if (i != levels - 1) b.conv("encoder.down." + std::to_string(i) + ".downsample.conv", block_in, block_in, 3);
  }
  vae_mid(b, "encoder", block_in);
  b.norm("encoder.norm_out", block_in);
  b.conv("encoder.conv_out", block_in, 2 * v.z_channels, 3);

  b.conv("quant_conv", 2 * v.z_channels, 2 * v.embed_dim, 1);
  b.conv("post_quant_conv", v.embed_dim, v.z_channels, 1);

  block_in = v.ch * v.ch_mult.back();
  b.conv("decoder.conv_in", v.z_channels, block_in, 3);
  vae_mid(b, "decoder", block_in);
  for (int i = levels - 1; i >= 0; --i) {
    int64_t block_out = v.ch * v.ch_mult[i];
    for (int j = 0; j <= v.num_res_blocks; ++j) {
      vae_res_block(b, "decoder.up." + std::to_string(i) + ".block." + std::to_string(j), block_in, block_out);
      block_in = block_out;
    }
    if (i != 0) b.conv("decoder.up." + std::to_string(i) + ".upsample.conv", block_in, block_in, 3);
  }
  b.norm("decoder.norm_out", block_in);
  b.conv("decoder.conv_out", block_in, v.out_ch, 3);
}

// ---- Text encoder (Hugging Face CLIPTextModel) ----

void text_layout(std::vector<tensor_spec>& out, const text_encoder_config& t, std::string_view prefix) {
  layout_builder b(out, std::string(prefix));
  const int64_t w = t.width;
  b.add("embeddings.token_embedding.weight", {t.vocab_size, w});
  b.add("embeddings.position_embedding.weight", {t.max_positions, w});
  for (int i = 0; i < t.layers; ++i) {
    std::string p = "encoder.layers." + std::to_string(i);
    b.linear(p + ".self_attn.k_proj", w, w);
    b.linear(p + ".self_attn.v_proj", w, w);
    b.linear(p + ".self_attn.q_proj", w, w);
    b.linear(p + ".self_attn.out_proj", w, w);
    b.norm(p + ".layer_norm1", w);
    b.linear(p + ".mlp.fc1", w, t.intermediate);
    b.linear(p + ".mlp.fc2", t.intermediate, w);
    b.norm(p + ".layer_norm2", w);
  }
  b.norm("final_layer_norm", w);
}

// ---- Text encoder of SD2 (OpenCLIP's text tower; attention is torch's MultiheadAttention) ----

void open_clip_text_layout(std::vector<tensor_spec>& out, const text_encoder_config& t, std::string_view prefix) {
  layout_builder b(out, std::string(prefix));
  const int64_t w = t.width;
  b.add("positional_embedding", {t.max_positions, w});
  b.add("token_embedding.weight", {t.vocab_size, w});
  for (int i = 0; i < t.layers; ++i) {
    std::string p = "transformer.resblocks." + std::to_string(i);
    b.norm(p + ".ln_1", w);
    b.add(p + ".attn.in_proj_weight", {3 * w, w});
    b.add(p + ".attn.in_proj_bias", {3 * w});
    b.linear(p + ".attn.out_proj", w, w);
    b.norm(p + ".ln_2", w);
    b.linear(p + ".mlp.c_fc", w, t.intermediate);
    b.linear(p + ".mlp.c_proj", t.intermediate, w);
  }
  b.norm("ln_final", w);
  // SDXL's pooled vector goes through it; SD2 leaves it unused.
  if (t.projection_dim > 0) b.add("text_projection", {w, t.projection_dim});
}

const char* const schedule_names[] = {
    "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
    "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod",
    "posterior_variance", "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2"};

} // namespace

std::vector<tensor_spec> sd1_checkpoint_layout(const model_config& config) {
  std::vector<tensor_spec> out;
  unet_layout(out, config.unet);
  vae_layout(out, config.vae);
  if (config.text2) {
    text_layout(out, config.text, sdxl_text_prefix);
    open_clip_text_layout(out, *config.text2, sdxl_text2_prefix);
  } else if (config.text.open_clip) {
    open_clip_text_layout(out, config.text, sd2_text_prefix);
  } else {
    text_layout(out, config.text, sd1_text_prefix);
  }
  return out;
}

std::vector<tensor_spec> sd1_schedule_layout(const model_config& config) {
  std::vector<tensor_spec> out;
  for (const char* name : schedule_names) out.push_back({name, {config.timesteps}});
  return out;
}

std::vector<std::pair<std::string, std::vector<double>>> sd1_schedule_buffers(const model_config& config) {
  const int n = config.timesteps;
  std::vector<double> betas(n), ac(n), ac_prev(n);
  const double s0 = std::sqrt(config.linear_start), s1 = std::sqrt(config.linear_end);
  double prod = 1.0;
  for (int i = 0; i < n; ++i) {
    double s = n == 1 ? s0 : s0 + (s1 - s0) * i / (n - 1);
    betas[i] = s * s;
    ac_prev[i] = prod;
    prod *= 1.0 - betas[i];
    ac[i] = prod;
  }
  auto map = [&](auto f) {
    std::vector<double> v(n);
    for (int i = 0; i < n; ++i) v[i] = f(i);
    return v;
  };
  auto post_var = map([&](int i) { return betas[i] * (1.0 - ac_prev[i]) / (1.0 - ac[i]); });
  std::vector<std::pair<std::string, std::vector<double>>> out;
  out.emplace_back("betas", betas);
  out.emplace_back("alphas_cumprod", ac);
  out.emplace_back("alphas_cumprod_prev", ac_prev);
  out.emplace_back("sqrt_alphas_cumprod", map([&](int i) { return std::sqrt(ac[i]); }));
  out.emplace_back("sqrt_one_minus_alphas_cumprod", map([&](int i) { return std::sqrt(1.0 - ac[i]); }));
  out.emplace_back("log_one_minus_alphas_cumprod", map([&](int i) { return std::log(1.0 - ac[i]); }));
  out.emplace_back("sqrt_recip_alphas_cumprod", map([&](int i) { return std::sqrt(1.0 / ac[i]); }));
  out.emplace_back("sqrt_recipm1_alphas_cumprod", map([&](int i) { return std::sqrt(1.0 / ac[i] - 1.0); }));
  out.emplace_back("posterior_variance", post_var);
  out.emplace_back("posterior_log_variance_clipped",
                   map([&](int i) { return std::log(std::max(post_var[i], 1e-20)); }));
  out.emplace_back("posterior_mean_coef1",
                   map([&](int i) { return betas[i] * std::sqrt(ac_prev[i]) / (1.0 - ac[i]); }));
  out.emplace_back("posterior_mean_coef2",
                   map([&](int i) { return (1.0 - ac_prev[i]) * std::sqrt(1.0 - betas[i]) / (1.0 - ac[i]); }));
  return out;
}

std::string sd1_canonical_key(std::string_view key) {
  static constexpr std::string_view old_prefix = "cond_stage_model.transformer.";
  static const char* const moved[] = {"embeddings.", "encoder.", "final_layer_norm."};
  if (key.substr(0, old_prefix.size()) == old_prefix) {
    std::string_view rest = key.substr(old_prefix.size());
    for (const char* m : moved) {
      std::string_view mv(m);
      if (rest.substr(0, mv.size()) == mv) return std::string(sd1_text_prefix) + std::string(rest);
    }
  }
  return std::string(key);
}

} // namespace sdw
