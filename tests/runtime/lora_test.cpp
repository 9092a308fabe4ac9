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
#include "tests/support/lora_engine.hpp"

#include <ATen/ATen.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <set>

// LoRA and LoCon files made by make_lora, applied to the tiny model (f32, CPU) by the engine and
// checked against an independent merge in PyTorch (tests/reference/lora_reference.py); tags,
// hashes, the hires pass's networks, restoring the weights, batching. LyCORIS kinds: lycoris_test.

using namespace sdw::test::lora_fixture;

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
