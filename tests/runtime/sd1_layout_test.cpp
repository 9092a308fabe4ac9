#define BOOST_TEST_MODULE sd1_layout
#include <boost/test/unit_test.hpp>

#include "runtime/engine/sd1_layout.hpp"

#include <cmath>
#include <map>
#include <set>

using namespace sdw;

namespace {

std::map<std::string, std::vector<int64_t>> as_map(const std::vector<tensor_spec>& specs) {
  std::map<std::string, std::vector<int64_t>> m;
  for (const auto& s : specs) m[s.name] = s.shape;
  return m;
}

double params_under(const std::vector<tensor_spec>& specs, std::string_view prefix) {
  double n = 0;
  for (const auto& s : specs) {
    if (s.name.compare(0, prefix.size(), prefix) != 0) continue;
    double e = 1;
    for (auto d : s.shape) e *= static_cast<double>(d);
    n += e;
  }
  return n / 1e6;
}

using shape = std::vector<int64_t>;

} // namespace

BOOST_AUTO_TEST_CASE(sd15_parameter_counts_match_the_published_model) {
  auto specs = sd1_checkpoint_layout(model_config{});
  BOOST_TEST(std::abs(params_under(specs, sd1_unet_prefix) - 859.52) < 0.01);
  BOOST_TEST(std::abs(params_under(specs, sd1_text_prefix) - 123.06) < 0.01);
  BOOST_TEST(std::abs(params_under(specs, sd1_vae_prefix) - 83.65) < 0.01);
  BOOST_TEST(params_under(specs, "") == params_under(specs, sd1_unet_prefix) + params_under(specs, sd1_text_prefix) +
                                            params_under(specs, sd1_vae_prefix),
             boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(sd15_keys_are_unique_and_named_like_real_checkpoints) {
  auto specs = sd1_checkpoint_layout(model_config{});
  auto m = as_map(specs);
  BOOST_TEST(m.size() == specs.size());

  const std::string u = "model.diffusion_model.";
  BOOST_TEST((m.at(u + "time_embed.0.weight") == shape{1280, 320}));
  BOOST_TEST((m.at(u + "input_blocks.0.0.weight") == shape{320, 4, 3, 3}));
  BOOST_TEST((m.at(u + "input_blocks.1.1.proj_in.weight") == shape{320, 320, 1, 1}));
  BOOST_TEST((m.at(u + "input_blocks.3.0.op.weight") == shape{320, 320, 3, 3}));
  BOOST_TEST((m.at(u + "input_blocks.4.0.skip_connection.weight") == shape{640, 320, 1, 1}));
  BOOST_TEST(!m.count(u + "input_blocks.1.0.skip_connection.weight"));
  BOOST_TEST(!m.count(u + "input_blocks.10.1.norm.weight"));  // ds 8: no attention
  BOOST_TEST((m.at(u + "input_blocks.11.0.out_layers.3.weight") == shape{1280, 1280, 3, 3}));
  BOOST_TEST((m.at(u + "middle_block.1.transformer_blocks.0.attn2.to_k.weight") == shape{1280, 768}));
  BOOST_TEST(!m.count(u + "middle_block.1.transformer_blocks.0.attn2.to_k.bias"));
  BOOST_TEST((m.at(u + "input_blocks.1.1.transformer_blocks.0.ff.net.0.proj.weight") == shape{2560, 320}));
  BOOST_TEST((m.at(u + "input_blocks.1.1.transformer_blocks.0.ff.net.2.weight") == shape{320, 1280}));
  BOOST_TEST((m.at(u + "output_blocks.0.0.skip_connection.weight") == shape{1280, 2560, 1, 1}));
  BOOST_TEST((m.at(u + "output_blocks.2.1.conv.weight") == shape{1280, 1280, 3, 3}));
  BOOST_TEST((m.at(u + "output_blocks.5.2.conv.weight") == shape{1280, 1280, 3, 3}));
  BOOST_TEST((m.at(u + "output_blocks.8.2.conv.weight") == shape{640, 640, 3, 3}));
  BOOST_TEST((m.at(u + "output_blocks.3.0.in_layers.0.weight") == shape{2560}));
  BOOST_TEST((m.at(u + "output_blocks.9.0.in_layers.2.weight") == shape{320, 960, 3, 3}));
  BOOST_TEST((m.at(u + "output_blocks.11.0.skip_connection.weight") == shape{320, 640, 1, 1}));
  BOOST_TEST(!m.count(u + "output_blocks.11.2.conv.weight"));
  BOOST_TEST((m.at(u + "out.2.weight") == shape{4, 320, 3, 3}));

  const std::string v = "first_stage_model.";
  BOOST_TEST((m.at(v + "encoder.conv_in.weight") == shape{128, 3, 3, 3}));
  BOOST_TEST((m.at(v + "encoder.down.1.block.0.nin_shortcut.weight") == shape{256, 128, 1, 1}));
  BOOST_TEST(!m.count(v + "encoder.down.3.downsample.conv.weight"));
  BOOST_TEST((m.at(v + "encoder.mid.attn_1.q.weight") == shape{512, 512, 1, 1}));
  BOOST_TEST((m.at(v + "encoder.conv_out.weight") == shape{8, 512, 3, 3}));
  BOOST_TEST((m.at(v + "quant_conv.weight") == shape{8, 8, 1, 1}));
  BOOST_TEST((m.at(v + "post_quant_conv.weight") == shape{4, 4, 1, 1}));
  BOOST_TEST((m.at(v + "decoder.conv_in.weight") == shape{512, 4, 3, 3}));
  BOOST_TEST((m.at(v + "decoder.up.3.block.2.conv2.weight") == shape{512, 512, 3, 3}));
  BOOST_TEST((m.at(v + "decoder.up.1.block.0.nin_shortcut.weight") == shape{256, 512, 1, 1}));
  BOOST_TEST((m.at(v + "decoder.up.3.upsample.conv.weight") == shape{512, 512, 3, 3}));
  BOOST_TEST(!m.count(v + "decoder.up.0.upsample.conv.weight"));
  BOOST_TEST((m.at(v + "decoder.conv_out.weight") == shape{3, 128, 3, 3}));

  const std::string t = "cond_stage_model.transformer.text_model.";
  BOOST_TEST((m.at(t + "embeddings.token_embedding.weight") == shape{49408, 768}));
  BOOST_TEST((m.at(t + "embeddings.position_embedding.weight") == shape{77, 768}));
  BOOST_TEST((m.at(t + "encoder.layers.11.mlp.fc1.weight") == shape{3072, 768}));
  BOOST_TEST((m.at(t + "encoder.layers.0.self_attn.out_proj.bias") == shape{768}));
  BOOST_TEST((m.at(t + "final_layer_norm.weight") == shape{768}));
  BOOST_TEST(!m.count(t + "encoder.layers.12.mlp.fc1.weight"));
  BOOST_TEST(!m.count(std::string(sd1_position_ids_key)));
}

BOOST_AUTO_TEST_CASE(linear_projections_and_head_channels_follow_the_config) {
  model_config c;
  c.unet.use_linear_in_transformer = true;
  c.unet.num_head_channels = 64;
  c.unet.context_dim = 1024;
  auto m = as_map(sd1_checkpoint_layout(c));
  const std::string u = "model.diffusion_model.";
  BOOST_TEST((m.at(u + "input_blocks.1.1.proj_in.weight") == shape{320, 320}));
  BOOST_TEST((m.at(u + "output_blocks.11.1.proj_out.weight") == shape{320, 320}));
  BOOST_TEST((m.at(u + "input_blocks.7.1.transformer_blocks.0.attn2.to_v.weight") == shape{1280, 1024}));
}

BOOST_AUTO_TEST_CASE(schedule_buffers_give_the_known_sd1_sigmas) {
  model_config c;
  auto specs = sd1_schedule_layout(c);
  auto buffers = sd1_schedule_buffers(c);
  BOOST_TEST_REQUIRE(specs.size() == 12u);
  BOOST_TEST_REQUIRE(buffers.size() == 12u);
  std::map<std::string, std::vector<double>> b(buffers.begin(), buffers.end());
  for (size_t i = 0; i < specs.size(); ++i) {
    BOOST_TEST(specs[i].name == buffers[i].first);
    BOOST_TEST((specs[i].shape == shape{1000}));
    BOOST_TEST(buffers[i].second.size() == 1000u);
  }
  auto sigma = [&](int i) { return std::sqrt((1 - b["alphas_cumprod"][i]) / b["alphas_cumprod"][i]); };
  // k-diffusion's sigma_min / sigma_max for SD1.
  BOOST_TEST(sigma(0) == 0.0291675, boost::test_tools::tolerance(1e-4));  // torch computes it in float32
  BOOST_TEST(sigma(999) == 14.614642, boost::test_tools::tolerance(1e-5));
  BOOST_TEST(b["betas"][0] == 0.00085, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(b["betas"][999] == 0.012, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(b["alphas_cumprod_prev"][0] == 1.0);
  BOOST_TEST(b["posterior_log_variance_clipped"][0] == std::log(1e-20), boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(old_text_encoder_keys_are_renamed) {
  BOOST_TEST(sd1_canonical_key("cond_stage_model.transformer.embeddings.token_embedding.weight") ==
             "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight");
  BOOST_TEST(sd1_canonical_key("cond_stage_model.transformer.final_layer_norm.bias") ==
             "cond_stage_model.transformer.text_model.final_layer_norm.bias");
  BOOST_TEST(sd1_canonical_key("cond_stage_model.transformer.text_model.encoder.layers.0.mlp.fc1.weight") ==
             "cond_stage_model.transformer.text_model.encoder.layers.0.mlp.fc1.weight");
  BOOST_TEST(sd1_canonical_key("model.diffusion_model.out.2.weight") == "model.diffusion_model.out.2.weight");
}
