#define BOOST_TEST_MODULE lora
#include <boost/test/unit_test.hpp>

#include "runtime/base/encoding.hpp"
#include "runtime/engine/clip_tokenizer.hpp"
#include "runtime/engine/lora_apply.hpp"
#include "runtime/engine/lora_delta.hpp"
#include "runtime/engine/lora_keys.hpp"
#include "runtime/engine/lora_library.hpp"
#include "runtime/engine/make_lora.hpp"
#include "runtime/engine/safetensors.hpp"
#include "runtime/engine/sd1_layout.hpp"
#include "runtime/engine/sd_model.hpp"
#include "runtime/engine/lora_plan.hpp"
#include "runtime/engine/txt2img.hpp"
#include "runtime/engine/txt2img_batch.hpp"
#include "runtime/formats/txt2img_request.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/tiny_model.hpp"

#include <ATen/ATen.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <set>

// LoRA, LoCon and LyCORIS files made by make_lora (and, for IA3, GLoRA, DoRA and OFT, by the
// reference script), applied to the tiny model (f32, CPU) by the engine and checked against an
// independent merge in PyTorch (tests/reference/lora_reference.py).

namespace {

namespace fs = std::filesystem;

struct engine {
  engine()
    : model(sdw::sd_model::load(sdw::test::tiny_model(dir), {"cpu", "f32"})),
      tokenizer(sdw::clip_tokenizer::from_file(sdw::test::clip_vocab())) {
    fs::create_directories(lora_dir());
    sdw::make_lora(sdw::model_preset::tiny, sdw::lora_kind::lora, 4, sdw::st_dtype::f16, 1, lora_dir() + "/style.safetensors");
    sdw::make_lora(sdw::model_preset::tiny, sdw::lora_kind::locon, 2, sdw::st_dtype::f16, 2, lora_dir() + "/conv.safetensors");
    sdw::make_lora(sdw::model_preset::tiny, sdw::lora_kind::loha, 3, sdw::st_dtype::f16, 3, lora_dir() + "/hada.safetensors");
    sdw::make_lora(sdw::model_preset::tiny, sdw::lora_kind::lokr, 2, sdw::st_dtype::f32, 4, lora_dir() + "/kron.safetensors");
    sdw::make_lora(sdw::model_preset::tiny, sdw::lora_kind::full, 1, sdw::st_dtype::f16, 5, lora_dir() + "/diff.safetensors");
    sdw::make_lora(sdw::model_preset::tiny, sdw::lora_kind::norm, 1, sdw::st_dtype::f32, 6, lora_dir() + "/norms.safetensors");
    library = std::make_unique<sdw::lora_library>(lora_dir());
  }
  std::string lora_dir() const { return dir.file("Lora"); }
  sdw::test::temp_dir dir;
  std::shared_ptr<sdw::sd_model> model;
  sdw::clip_tokenizer tokenizer;
  std::unique_ptr<sdw::lora_library> library;
};

engine& the_engine() {
  static engine e;
  return e;
}

std::string body(const std::string& prompt, int seed = 5) {
  return R"({"prompt": ")" + prompt + R"(", "negative_prompt": "blurry", "seed": )" + std::to_string(seed) +
         R"(, "steps": 4, "width": 64, "height": 64, "sampler_name": "Euler", "override_settings": {"randn_source": "CPU"}})";
}

struct run_out {
  sdw::txt2img_result result;
  at::Tensor latent;
};

run_out run(const std::string& prompt, const sdw::sd_model* model = nullptr, int seed = 5) {
  auto& e = the_engine();
  const auto req = sdw::parse_txt2img_request(body(prompt, seed));
  sdw::options opts;
  sdw::apply_overrides(opts, *req.override_settings);
  run_out out;
  sdw::txt2img_hooks hooks;
  hooks.on_latent = [&](const std::vector<float>& v, const std::vector<int64_t>& shape) {
    out.latent = at::tensor(v).reshape(shape);
  };
  out.result = sdw::run_txt2img(model ? *model : *e.model, e.tokenizer, req, opts, hooks, e.library.get());
  return out;
}

const std::vector<uint8_t>& pixels(const run_out& r) { return r.result.images.at(0).pixels; }

double rel_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
}

/// sha256 of the file after its 8-byte length and JSON header, computed here from the raw bytes.
std::string addnet_hash(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) {
    n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<size_t>(i)]);
  }
  return sdw::sha256_hex(std::string_view(bytes).substr(8 + n)).substr(0, 12);
}

/// A file of the network folder and the multipliers its tag gives it.
struct file_use {
  std::string file;
  double te, unet;
};

/// The engine's result for `tags` against the reference's merge of `files` (in order) loaded as a checkpoint.
void check_against_reference(const std::string& tags, const std::vector<file_use>& files) {
  auto& e = the_engine();
  std::string name = "merged";
  std::string args;
  for (const file_use& f : files) {
    name += "_" + f.file;
    args += " '" + e.lora_dir() + "/" + f.file + ".safetensors' " + std::to_string(f.te) + " " + std::to_string(f.unet);
  }
  const std::string merged = e.dir.file(name + ".safetensors");
  const std::string script = std::string(std::getenv("SDW_SOURCE_DIR")) + "/tests/reference/lora_reference.py";
  const auto [rc, log] = sdw::test::run_command(sdw::test::python() + " '" + script + "' '" + e.model->path() + "' '" +
                                                merged + "'" + args);
  BOOST_TEST_MESSAGE(log);
  BOOST_TEST_REQUIRE(rc == 0);
  fs::copy_file(sdw::config_path_for(e.model->path()), sdw::config_path_for(merged), fs::copy_options::overwrite_existing);
  const auto reference_model = sdw::sd_model::load(merged, {"cpu", "f32"});
  const run_out ours = run("a red fox in the snow " + tags);
  const run_out reference = run("a red fox in the snow ", reference_model.get());
  const run_out plain = run("a red fox in the snow ");
  const double d = rel_diff(ours.latent, reference.latent);
  BOOST_TEST_MESSAGE(name << ": latent relative difference to the reference merge " << d << ", the files' own effect "
                          << rel_diff(plain.latent, reference.latent));
  BOOST_TEST(d <= 1e-4);
  BOOST_TEST(rel_diff(plain.latent, reference.latent) > 1e-2);  // the files do change the image
}

void check_against_reference(const std::string& tags, const std::string& file, double te, double unet) {
  check_against_reference(tags, std::vector<file_use>{{file, te, unet}});
}

/// Every parameter of both networks, weights and biases, copied.
std::vector<std::pair<std::string, at::Tensor>> all_params(const sdw::sd_model& model) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (auto& [k, t] : model.unet().named_weights()) {
    out.emplace_back(k, t.clone());
  }
  for (auto& [k, t] : model.text().named_weights()) {
    out.emplace_back(k, t.clone());
  }
  return out;
}

/// The file of IA3, GLoRA, DoRA and OFT modules the reference script writes for the tiny model.
void make_extra_file() {
  auto& e = the_engine();
  const std::string path = e.lora_dir() + "/extra.safetensors";
  if (fs::exists(path)) {
    return;
  }
  const std::string script = std::string(std::getenv("SDW_SOURCE_DIR")) + "/tests/reference/lora_reference.py";
  const auto [rc, log] = sdw::test::run_command(sdw::test::python() + " '" + script + "' --make-extra '" +
                                                e.model->path() + "' '" + path + "' 7");
  BOOST_TEST_MESSAGE(log);
  BOOST_TEST_REQUIRE(rc == 0);
}

} // namespace

BOOST_AUTO_TEST_CASE(kohya_names_map_to_the_sd1_layers_a1111_names) {
  BOOST_TEST(sdw::kohya_to_compvis("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q") ==
             "diffusion_model_input_blocks_1_1_transformer_blocks_0_attn1_to_q");
  BOOST_TEST(sdw::kohya_to_compvis("lora_unet_up_blocks_3_resnets_2_conv1") == "diffusion_model_output_blocks_11_0_in_layers_2");
  BOOST_TEST(sdw::kohya_to_compvis("lora_unet_mid_block_resnets_1_conv2") == "diffusion_model_middle_block_2_out_layers_3");
  BOOST_TEST(sdw::kohya_to_compvis("lora_unet_mid_block_attentions_0_proj_in") == "diffusion_model_middle_block_1_proj_in");
  BOOST_TEST(sdw::kohya_to_compvis("lora_unet_time_embedding_linear_2") == "diffusion_model_time_embed_2");
  BOOST_TEST(sdw::kohya_to_compvis("lora_unet_down_blocks_2_downsamplers_0_conv") == "diffusion_model_input_blocks_9_0_op");
  BOOST_TEST(sdw::kohya_to_compvis("lora_unet_up_blocks_0_upsamplers_0_conv") == "diffusion_model_output_blocks_2_1_conv");
  BOOST_TEST(sdw::kohya_to_compvis("lora_unet_up_blocks_2_upsamplers_0_conv") == "diffusion_model_output_blocks_8_2_conv");
  BOOST_TEST(sdw::kohya_to_compvis("lora_unet_down_blocks_1_resnets_0_conv_shortcut") ==
             "diffusion_model_input_blocks_4_0_skip_connection");
  BOOST_TEST(sdw::kohya_to_compvis("lora_te_text_model_encoder_layers_11_self_attn_out_proj") ==
             "transformer_text_model_encoder_layers_11_self_attn_out_proj");
  // Every linear and convolution layer of both presets has a name that leads back to it.
  for (auto preset : {sdw::model_preset::sd15, sdw::model_preset::tiny}) {
    const auto layers = sdw::lora_layers(sdw::preset_config(preset));
    BOOST_TEST(layers.count("transformer_text_model_encoder_layers_0_mlp_fc1") == 1);
    for (const auto& [layer, target] : layers) {
      if (target.kind != sdw::lora_layer_kind::linear && target.kind != sdw::lora_layer_kind::conv) {
        continue;
      }
      const auto found = sdw::find_lora_layer(sdw::kohya_name_for(layer), layers);
      BOOST_TEST_REQUIRE(found.has_value(), layer);
      BOOST_TEST(*found == layer);
    }
  }
  const auto sd15 = sdw::lora_layers(sdw::preset_config(sdw::model_preset::sd15));
  BOOST_TEST(sdw::kohya_name_for("diffusion_model_output_blocks_5_1_proj_out") == "lora_unet_up_blocks_1_attentions_2_proj_out");
  BOOST_TEST(!sdw::find_lora_layer("lora_unet_down_blocks_9_attentions_0_proj_in", sd15).has_value());
}

BOOST_AUTO_TEST_CASE(a_lora_at_multiplier_zero_gives_the_image_without_the_tag) {
  const run_out plain = run("a red fox in the snow ");
  const run_out zero = run("a red fox in the snow <lora:style:0>");
  BOOST_TEST(pixels(zero) == pixels(plain));
  const run_out one = run("a red fox in the snow <lora:style:1>");
  BOOST_TEST(pixels(one) != pixels(plain));
}

BOOST_AUTO_TEST_CASE(disable_extra_networks_leaves_the_tags_unapplied) {
  auto& e = the_engine();
  std::string with_flag = body("a red fox in the snow <lora:style:1>");
  with_flag.insert(1, R"("disable_extra_networks": true, )");
  const auto req = sdw::parse_txt2img_request(with_flag);
  sdw::options opts;
  sdw::apply_overrides(opts, *req.override_settings);
  const sdw::txt2img_result disabled = sdw::run_txt2img(*e.model, e.tokenizer, req, opts, {}, e.library.get());
  const run_out plain = run("a red fox in the snow ");
  BOOST_TEST(disabled.images.at(0).pixels == pixels(plain));
  BOOST_TEST(disabled.images.at(0).infotext.find("Lora hashes") == std::string::npos, disabled.images.at(0).infotext);
}

// Hires fix: the second pass runs its own prompt's networks (A1111's hr_extra_network_data), and
// "Lora hashes" lists both passes' files; batched jobs whose hires prompts name other networks run
// apart, each as it runs alone.
BOOST_AUTO_TEST_CASE(the_hires_pass_runs_the_hires_prompts_networks) {
  auto& e = the_engine();
  const auto request = [&](const std::string& prompt, const std::string& hr_prompt) {
    std::string b = body(prompt);
    b.insert(1, R"("enable_hr": true, "denoising_strength": 0.6, "hr_scale": 1.5, "hr_second_pass_steps": 2, "hr_prompt": ")" +
                  hr_prompt + R"(", )");
    return sdw::parse_txt2img_request(b);
  };
  const auto options_of = [](const sdw::txt2img_request& req) {
    sdw::options opts;
    sdw::apply_overrides(opts, *req.override_settings);
    return opts;
  };
  const auto hires_run = [&](const std::string& prompt, const std::string& hr_prompt) {
    const auto req = request(prompt, hr_prompt);
    return sdw::run_txt2img(*e.model, e.tokenizer, req, options_of(req), {}, e.library.get());
  };
  const auto plain = hires_run("a fox ", "a fox in the snow ");
  const auto second_only = hires_run("a fox ", "a fox in the snow <lora:style:1>");
  const auto first_only = hires_run("a fox <lora:style:1>", "a fox in the snow ");
  const auto both = hires_run("a fox <lora:style:1>", "a fox in the snow <lora:style:1>");
  const auto zero = hires_run("a fox ", "a fox in the snow <lora:style:0>");
  const auto& px = [](const sdw::txt2img_result& r) -> const std::vector<uint8_t>& { return r.images.at(0).pixels; };
  BOOST_TEST(px(zero) == px(plain));
  BOOST_TEST(px(second_only) != px(plain));
  BOOST_TEST(px(first_only) != px(plain));
  BOOST_TEST(px(both) != px(first_only));
  BOOST_TEST(px(both) != px(second_only));
  const std::string hash = addnet_hash(e.lora_dir() + "/style.safetensors");
  BOOST_TEST(second_only.images.at(0).infotext.find("Lora hashes: \"style: " + hash + "\"") != std::string::npos,
             second_only.images.at(0).infotext);
  BOOST_TEST(plain.images.at(0).infotext.find("Lora hashes") == std::string::npos);
  // Named in both passes: listed once.
  BOOST_TEST(both.images.at(0).infotext.find("Lora hashes: \"style: " + hash + "\"") != std::string::npos,
             both.images.at(0).infotext);
  BOOST_TEST(sdw::joined_lora_hashes("a: 1, b: 2", "b: 2, c: 3") == "a: 1, b: 2, c: 3");
  BOOST_TEST(sdw::joined_lora_hashes("", "c: 3") == "c: 3");

  std::vector<sdw::batch_member> members;
  for (const auto& [prompt, hr_prompt] : std::vector<std::pair<std::string, std::string>>{
         {"a fox ", "a fox in the snow "}, {"a fox ", "a fox in the snow <lora:style:1>"}}) {
    const auto req = request(prompt, hr_prompt);
    members.push_back({req, options_of(req)});
  }
  const auto outcomes = sdw::run_txt2img_batch(*e.model, e.tokenizer, members, {}, 64, e.library.get());
  BOOST_REQUIRE(outcomes.at(0).ok());
  BOOST_REQUIRE(outcomes.at(1).ok());
  BOOST_TEST(px(*outcomes[0].result) == px(plain));
  BOOST_TEST(px(*outcomes[1].result) == px(second_only));
}

// Option hires_fix_use_firstpass_conds: A1111 encodes the hires prompts before the first pass, so
// the text encoder has the first pass's networks and the UNet the second's: a network named in only
// one of the prompts acts as `<lora:style:te:unet>` with the other pass's text multiplier.
BOOST_AUTO_TEST_CASE(firstpass_conds_encode_the_hires_prompts_with_the_first_passs_networks) {
  auto& e = the_engine();
  const auto hires_run = [&](const std::string& prompt, const std::string& hr_prompt, bool firstpass) {
    std::string b = body(prompt);
    b.insert(1, R"("enable_hr": true, "denoising_strength": 0.6, "hr_scale": 1.5, "hr_second_pass_steps": 2, "hr_prompt": ")" +
                  hr_prompt + R"(", )");
    const auto req = sdw::parse_txt2img_request(b);
    sdw::options opts;
    sdw::apply_overrides(opts, *req.override_settings);
    opts.hires_fix_use_firstpass_conds = firstpass;
    return sdw::batch_member{req, opts};
  };
  const auto solo = [&](const sdw::batch_member& m) {
    return sdw::run_txt2img(*e.model, e.tokenizer, m.request, m.opts, {}, e.library.get()).images.at(0).pixels;
  };
  const auto second_only = hires_run("a fox ", "a fox in the snow <lora:style:1>", true);
  const auto first_only = hires_run("a fox <lora:style:1>", "a fox in the snow ", true);
  BOOST_TEST(solo(second_only) == solo(hires_run("a fox ", "a fox in the snow <lora:style:0:1>", false)));
  BOOST_TEST(solo(first_only) == solo(hires_run("a fox <lora:style:1>", "a fox in the snow <lora:style:1:0>", false)));
  BOOST_TEST(solo(second_only) != solo(hires_run("a fox ", "a fox in the snow <lora:style:1>", false)));
  // Batched with others the same: the batch encodes the hires prompts with the first pass's networks too.
  const auto outcomes = sdw::run_txt2img_batch(*e.model, e.tokenizer, {second_only, first_only}, {}, 64, e.library.get());
  BOOST_REQUIRE(outcomes.at(0).ok());
  BOOST_REQUIRE(outcomes.at(1).ok());
  BOOST_TEST(outcomes[0].result->images.at(0).pixels == solo(second_only));
  BOOST_TEST(outcomes[1].result->images.at(0).pixels == solo(first_only));
}

BOOST_AUTO_TEST_CASE(lora_merge_equals_an_independent_pytorch_merge) {
  check_against_reference("<lora:style:te=0.7:unet=1.3>", "style", 0.7, 1.3);
}

BOOST_AUTO_TEST_CASE(locon_merge_equals_an_independent_pytorch_merge) {
  check_against_reference("<lora:conv:0.8:1.2>", "conv", 0.8, 1.2);
}

BOOST_AUTO_TEST_CASE(lycoris_files_hold_the_kinds_and_forms_they_are_made_of) {
  auto& e = the_engine();
  const auto network = [&](const char* name) { return e.library->network(*e.library->find(name), e.model->config()); };
  std::map<std::string, int> parts;
  for (const char* name : {"hada", "kron", "diff", "norms"}) {
    for (const sdw::lora_module& m : network(name)->modules) {
      for (const auto& [part, t] : m.w) {
        ++parts[std::string(sdw::to_string(m.kind)) + ":" + part];
      }
      if (m.kind == sdw::lora_module_kind::norm) {
        BOOST_TEST((m.target.kind == sdw::lora_layer_kind::norm && !m.target.bias_key.empty()), m.layer);
      }
    }
  }
  // LoHa with and without Tucker cores; LoKr in all four forms, with a Tucker core for 3x3 kernels.
  for (const char* p : {"LoHa:hada_w1_a", "LoHa:hada_t1", "LoHa:hada_t2", "LoKr:lokr_w1", "LoKr:lokr_w1_a",
                        "LoKr:lokr_w2", "LoKr:lokr_w2_a", "LoKr:lokr_t2", "full:diff", "full:diff_b", "norm:w_norm",
                        "norm:b_norm"}) {
    BOOST_TEST(parts[p] > 0, p);
  }
  BOOST_TEST(parts["LoHa:hada_w1_a"] > parts["LoHa:hada_t1"]);
  BOOST_TEST(parts["full:diff"] > parts["full:diff_b"]);  // to_q/k/v have no bias
  // LoKr's alpha is divided by the second factor's rank when both factors are factored.
  bool both = false;
  for (const sdw::lora_module& m : network("kron")->modules) {
    if (m.w.count("lokr_w1_a") && m.w.count("lokr_w2_a")) {
      both = true;
      BOOST_TEST(*m.dim == m.get("lokr_w2_b").size(0));
      BOOST_TEST(m.get("lokr_w1_b").size(0) == *m.dim + 1);
    }
    if (m.w.count("lokr_w1") && m.w.count("lokr_w2")) {
      BOOST_TEST(!m.dim.has_value());  // no rank: alpha is not used
    }
  }
  BOOST_TEST(both);
}

BOOST_AUTO_TEST_CASE(sd15_lycoris_files_match_every_module_to_a_layer_its_delta_fits) {
  sdw::test::temp_dir dir;
  const sdw::model_config config = sdw::preset_config(sdw::model_preset::sd15);
  const auto layers = sdw::lora_layers(config);
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& spec : sdw::sd1_checkpoint_layout(config)) {
    shapes[spec.name] = spec.shape;
  }
  // full at sd15 size is as large as the UNet itself; its layers are those of loha and lokr.
  for (auto kind : {sdw::lora_kind::loha, sdw::lora_kind::lokr, sdw::lora_kind::norm}) {
    const std::string path = dir.file(std::string(sdw::to_string(kind)) + ".safetensors");
    sdw::make_lora(sdw::model_preset::sd15, kind, 2, sdw::st_dtype::f16, 1, path);
    const auto net = sdw::load_lora_network(path, layers);
    BOOST_TEST(net->unmatched == 0u, sdw::to_string(kind));
    BOOST_TEST(net->modules.size() > (kind == sdw::lora_kind::norm ? 100u : 250u), sdw::to_string(kind));
    for (const sdw::lora_module& m : net->modules) {
      const at::Tensor weight = at::zeros(shapes.at(m.target.weight_key));
      const auto d = sdw::lora_module_delta(m, {net, 1.0, 1.0, std::nullopt}, weight, at::kFloat);
      BOOST_TEST_REQUIRE(d.updown.sizes().equals(weight.sizes()), m.layer);
    }
  }
}

BOOST_AUTO_TEST_CASE(loha_merge_equals_an_independent_pytorch_merge) {
  check_against_reference("<lora:hada:0.9:1.1>", "hada", 0.9, 1.1);
}

BOOST_AUTO_TEST_CASE(lokr_merge_equals_an_independent_pytorch_merge) {
  check_against_reference("<lora:kron:1.2:0.8>", "kron", 1.2, 0.8);
}

BOOST_AUTO_TEST_CASE(full_diff_merge_with_bias_equals_an_independent_pytorch_merge) {
  check_against_reference("<lora:diff:te=0.6:unet=1>", "diff", 0.6, 1.0);
}

BOOST_AUTO_TEST_CASE(norm_merge_equals_an_independent_pytorch_merge) {
  check_against_reference("<lora:norms:1:0.7>", "norms", 1.0, 0.7);
}

BOOST_AUTO_TEST_CASE(ia3_glora_and_dora_merge_equal_an_independent_pytorch_merge_and_oft_is_skipped) {
  make_extra_file();
  auto& e = the_engine();
  const auto net = e.library->network(*e.library->find("extra"), e.model->config());
  BOOST_TEST(net->refused == 1u);
  std::set<sdw::lora_module_kind> kinds;
  size_t dora = 0;
  for (const sdw::lora_module& m : net->modules) {
    kinds.insert(m.kind);
    dora += m.w.count("dora_scale");
  }
  BOOST_TEST(kinds.count(sdw::lora_module_kind::ia3) == 1u);
  BOOST_TEST(kinds.count(sdw::lora_module_kind::glora) == 1u);
  BOOST_TEST(dora > 0u);
  check_against_reference("<lora:extra:0.8:1.1>", "extra", 0.8, 1.1);
}

BOOST_AUTO_TEST_CASE(several_kinds_in_one_prompt_equal_the_reference_merging_them_in_order) {
  make_extra_file();
  check_against_reference("<lora:hada:0.5> <lora:kron:0.7> <lora:diff:0.3:0.4> <lora:norms:0.8> <lora:style:0.5> "
                          "<lora:extra:0.6>",
                          {{"hada", 0.5, 0.5}, {"kron", 0.7, 0.7}, {"diff", 0.3, 0.4}, {"norms", 0.8, 0.8},
                           {"style", 0.5, 0.5}, {"extra", 0.6, 0.6}});
}

BOOST_AUTO_TEST_CASE(every_kind_at_multiplier_zero_gives_the_image_without_the_tag) {
  make_extra_file();
  const run_out plain = run("a red fox in the snow ");
  for (const std::string name : {"hada", "kron", "diff", "norms", "extra"}) {
    const run_out zero = run("a red fox in the snow <lora:" + name + ":0>");
    BOOST_TEST(pixels(zero) == pixels(plain), name);
    const run_out one = run("a red fox in the snow <lora:" + name + ":1>");
    BOOST_TEST(pixels(one) != pixels(plain), name);
  }
}

BOOST_AUTO_TEST_CASE(weights_and_biases_are_restored_exactly_after_a_job_with_every_kind) {
  make_extra_file();
  auto& e = the_engine();
  const auto before = all_params(*e.model);
  const run_out plain = run("a house by the sea");
  const run_out with = run("a house by the sea <lora:hada:1> <lora:kron:1> <lora:diff:1> <lora:norms:1> <lora:extra:1>");
  const run_out after = run("a house by the sea");
  BOOST_TEST(pixels(with) != pixels(plain));
  BOOST_TEST(pixels(after) == pixels(plain));
  const auto now = all_params(*e.model);
  BOOST_TEST_REQUIRE(now.size() == before.size());
  for (size_t i = 0; i < now.size(); ++i) {
    BOOST_TEST_REQUIRE(at::equal(now[i].second, before[i].second), now[i].first);
  }
}

BOOST_AUTO_TEST_CASE(a_file_with_a_module_no_kind_accepts_is_skipped_like_a_missing_one) {
  auto& e = the_engine();
  const std::string zeros(4 * 4, '\0');
  sdw::write_safetensors(e.lora_dir() + "/strange.safetensors",
                         {{"lora_te_text_model_encoder_layers_0_mlp_fc1.odd_part", sdw::st_dtype::f32, {4}, zeros}}, {});
  const run_out strange = run("a cat <lora:strange:1>");
  const run_out plain = run("a cat ");
  BOOST_TEST(pixels(strange) == pixels(plain));
  BOOST_TEST(strange.result.images.at(0).infotext.find("Lora hashes") == std::string::npos);
  // The other files of the prompt still apply.
  const run_out both = run("a cat <lora:strange:1> <lora:hada:1>");
  const run_out hada = run("a cat <lora:hada:1>");
  BOOST_TEST(pixels(both) == pixels(hada));
}

BOOST_AUTO_TEST_CASE(weights_are_restored_exactly_after_a_lora_job) {
  auto& e = the_engine();
  std::vector<at::Tensor> before;
  for (auto& [k, t] : e.model->unet().named_weights()) {
    before.push_back(t.clone());
  }
  const run_out plain = run("a house by the sea");
  const auto t0 = std::chrono::steady_clock::now();
  const run_out with = run("a house by the sea <lora:style:1> <lora:conv:0.5>");
  BOOST_TEST_MESSAGE("a job with two LoRAs took " << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s");
  const run_out after = run("a house by the sea");
  BOOST_TEST(pixels(with) != pixels(plain));
  BOOST_TEST(pixels(after) == pixels(plain));
  size_t i = 0;
  for (auto& [k, t] : e.model->unet().named_weights()) {
    BOOST_TEST_REQUIRE(at::equal(t, before[i++]), k);
  }
}

BOOST_AUTO_TEST_CASE(merging_and_restoring_take_little_time) {
  auto& e = the_engine();
  const auto path = e.library->find("conv");
  BOOST_TEST_REQUIRE(path.has_value());
  const sdw::lora_set set{{e.library->network(*path, e.model->config()), 1.0, 1.0, std::nullopt}};
  const auto t0 = std::chrono::steady_clock::now();
  {
    sdw::lora_patcher patcher(*e.model);
    patcher.apply(set, sdw::lora_part::text);
    patcher.apply(set, sdw::lora_part::unet);
    const auto t1 = std::chrono::steady_clock::now();
    patcher.restore();
    const auto t2 = std::chrono::steady_clock::now();
    const double merge_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    const double restore_ms = std::chrono::duration<double, std::milli>(t2 - t1).count();
    const size_t layers = e.library->network(*path, e.model->config())->modules.size();
    BOOST_TEST_MESSAGE("tiny model, LoCon rank 2 over " << layers << " layers: merge " << merge_ms << " ms, restore "
                                                         << restore_ms << " ms");
  }
}

BOOST_AUTO_TEST_CASE(lora_hashes_are_in_the_infotext_and_unknown_names_are_skipped) {
  auto& e = the_engine();
  const run_out with = run("a cat <lora:style:0.5>, <lora:nosuch:1>");
  const std::string& info = with.result.images.at(0).infotext;
  const std::string hash = addnet_hash(e.lora_dir() + "/style.safetensors");
  BOOST_TEST(info.find("Lora hashes: \"style: " + hash + "\"") != std::string::npos, info);
  BOOST_TEST(info.rfind("a cat <lora:style:0.5>, <lora:nosuch:1>", 0) == 0);  // tags stay in the prompt
  // An unknown name alone: the job goes on as if the tag were not there, with no hashes.
  const run_out unknown = run("a cat <lora:nosuch:1>");
  const run_out plain = run("a cat ");
  BOOST_TEST(pixels(unknown) == pixels(plain));
  BOOST_TEST(unknown.result.images.at(0).infotext.find("Lora hashes") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_name_given_twice_is_applied_twice_with_its_last_multipliers) {
  // A1111 keeps one network object per name: both entries take the last tag's multipliers.
  const run_out twice = run("a fox <lora:style:0.2> <lora:style:0.35>");
  const run_out doubled = run("a fox <lora:style:0.7>");
  const run_out once = run("a fox <lora:style:0.35>");
  BOOST_TEST(rel_diff(twice.latent, doubled.latent) < 1e-5);
  BOOST_TEST(rel_diff(twice.latent, once.latent) > 1e-3);
  const std::string& info = twice.result.images.at(0).infotext;
  const std::string hash = addnet_hash(the_engine().lora_dir() + "/style.safetensors");
  // The extension's hashes are a dict by name: listed once.
  BOOST_TEST(info.find("Lora hashes: \"style: " + hash + "\"") != std::string::npos, info);
}

BOOST_AUTO_TEST_CASE(names_that_leave_the_folder_are_unknown) {
  auto& e = the_engine();
  sdw::test::temp_dir outside;
  sdw::make_lora(sdw::model_preset::tiny, sdw::lora_kind::lora, 2, sdw::st_dtype::f32, 3, outside.file("evil.safetensors"));
  fs::create_symlink(outside.file("evil.safetensors"), e.lora_dir() + "/linked_out.safetensors");
  fs::create_directories(e.lora_dir() + "/sub");
  fs::create_symlink(e.lora_dir() + "/style.safetensors", e.lora_dir() + "/sub/linked_in.safetensors");
  sdw::lora_library& lib = *e.library;
  BOOST_TEST(lib.find("style").has_value());
  BOOST_TEST(lib.find("linked_in").has_value());  // a link that stays inside
  BOOST_TEST(!lib.find("linked_out").has_value());
  BOOST_TEST(!lib.find("evil").has_value());
  for (const std::string& name : std::vector<std::string>{"../evil", outside.file("evil"), "sub/linked_in", "sub\\linked_in", "..", ".", ""}) {
    BOOST_TEST(!lib.find(name).has_value(), name);
  }
  const run_out escaped = run("a cat <lora:" + fs::relative(outside.file("evil"), e.lora_dir()).string() + ":1>");
  const run_out plain = run("a cat ");
  BOOST_TEST(pixels(escaped) == pixels(plain));
}

BOOST_AUTO_TEST_CASE(jobs_with_different_loras_in_one_batch_each_equal_their_solo_runs) {
  auto& e = the_engine();
  std::vector<sdw::batch_member> members;
  for (const std::string prompt : {"a fox <lora:style:1>", "a fox <lora:conv:0.7>", "a fox", "a fox <lora:style:1>"}) {
    sdw::batch_member m{sdw::parse_txt2img_request(body(prompt, 9)), {}};
    sdw::apply_overrides(m.opts, *m.request.override_settings);
    members.push_back(std::move(m));
  }
  BOOST_TEST(*sdw::batch_key(members[0].request, members[0].opts) != *sdw::batch_key(members[1].request, members[1].opts));
  BOOST_TEST(*sdw::batch_key(members[0].request, members[0].opts) == *sdw::batch_key(members[3].request, members[3].opts));
  const auto outcomes = sdw::run_txt2img_batch(*e.model, e.tokenizer, members, {}, 64, e.library.get());
  for (size_t i = 0; i < members.size(); ++i) {
    BOOST_TEST_REQUIRE(outcomes[i].ok());
    const auto solo = sdw::run_txt2img(*e.model, e.tokenizer, members[i].request, members[i].opts, {}, e.library.get());
    const auto& a = outcomes[i].result->images.at(0).pixels;
    const auto& b = solo.images.at(0).pixels;
    size_t off = 0;
    int worst = 0;
    for (size_t k = 0; k < a.size(); ++k) {
      const int d = std::abs(int(a[k]) - int(b[k]));
      off += d != 0;
      worst = std::max(worst, d);
    }
    // Stacked rows round like the batching test allows: at most 1 level off in 0.1% of bytes.
    BOOST_TEST(worst <= 1, "member " << i);
    BOOST_TEST(off <= a.size() / 1000, "member " << i);
    BOOST_TEST(outcomes[i].result->images.at(0).infotext == solo.images.at(0).infotext);
  }
  BOOST_TEST(outcomes[0].result->images[0].pixels != outcomes[2].result->images[0].pixels);
}
