#define BOOST_TEST_MODULE lycoris
#include <boost/test/unit_test.hpp>

#include "runtime/engine/lora_apply.hpp"
#include "runtime/engine/lora_delta.hpp"
#include "runtime/engine/lora_keys.hpp"
#include "runtime/engine/lora_library.hpp"
#include "runtime/engine/make_lora.hpp"
#include "runtime/engine/sd1_layout.hpp"
#include "tests/support/lora_engine.hpp"

#include <ATen/ATen.h>

#include <map>
#include <set>
#include <string>

// LyCORIS files (LoHa, LoKr, full diff, norm; IA3, GLoRA, DoRA and OFT from the reference script):
// what they hold once loaded, and their merges against an independent one in PyTorch
// (tests/reference/lora_reference.py). LoRA and LoCon, tags and batching: lora_test.

using namespace sdw::test::lora_fixture;

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
