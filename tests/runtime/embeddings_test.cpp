#define BOOST_TEST_MODULE embeddings
#include <boost/test/unit_test.hpp>

#include "runtime/base/encoding.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/engine/conditioning.hpp"
#include "runtime/engine/embedding_library.hpp"
#include "runtime/engine/make_embedding.hpp"
#include "runtime/engine/safetensors.hpp"
#include "runtime/engine/txt2img_plan.hpp"
#include "runtime/formats/infotext.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/formats/txt2img_request.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/tiny_engine.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

// Textual-inversion embeddings: the folder's rules, and the conditioning with their vectors in
// place against an independent PyTorch reference (tests/reference/embedding_reference.py).

namespace fs = std::filesystem;
using sdw::test::shared_tiny_engine;

namespace {

int64_t width() { return shared_tiny_engine().model->config().text.width; }

/// A float32 safetensors file holding `tensors` (name → [rows, cols] of random values).
void write_tensors(const std::string& path, const std::vector<std::pair<std::string, std::vector<int64_t>>>& tensors) {
  std::vector<sdw::st_write_entry> entries;
  for (const auto& [name, shape] : tensors) {
    const at::Tensor t = at::randn(shape, at::kFloat).contiguous();
    entries.push_back({name, sdw::st_dtype::f32, shape,
                       std::string(static_cast<const char*>(t.data_ptr()), static_cast<size_t>(t.nbytes()))});
  }
  sdw::write_safetensors(path, entries, {});
}

/// The embeddings folder of these tests: one-, three- and eight-vector embeddings of the model's
/// width, one of another width, an SDXL pair, and links that lead outside it.
struct folder {
  folder() {
    fs::create_directories(inside);
    fs::create_directories(inside / "sub");
    fs::create_directories(outside);
    sdw::make_embedding(width(), 1, 1, (inside / "tinyemb.safetensors").string());
    sdw::make_embedding(width(), 3, 2, (inside / "sub" / "multi-emb.safetensors").string());
    sdw::make_embedding(width(), 8, 3, (inside / "bigemb.safetensors").string());
    sdw::make_embedding(width() + 8, 1, 4, (inside / "wideemb.safetensors").string());
    write_tensors((inside / "xlemb.safetensors").string(), {{"clip_g", {2, 1280}}, {"clip_l", {2, 768}}});
    std::ofstream((inside / "empty.pt").string());  // size 0: passed over
    std::ofstream((inside / "notes.txt").string()) << "not an embedding";
    sdw::make_embedding(width(), 2, 5, (outside / "outsider.safetensors").string());
    fs::create_symlink(outside / "outsider.safetensors", inside / "linked.safetensors");
    fs::create_directory_symlink(outside, inside / "linkdir");
  }
  sdw::test::temp_dir dir;
  fs::path inside = dir.dir / "embeddings";
  fs::path outside = dir.dir / "elsewhere";
};

folder& the_folder() {
  static folder f;
  return f;
}

std::shared_ptr<const sdw::embedding_set> the_set() {
  static auto set = std::make_shared<const sdw::embedding_set>(
    the_folder().inside.string(), sdw::embedding_kind{width(), false}, std::make_shared<const sdw::clip_tokenizer>(shared_tiny_engine().tokenizer));
  return set;
}

sdw::prompt_settings settings_with(std::shared_ptr<const sdw::embedding_set> set) {
  sdw::prompt_settings s;
  s.embeddings = std::move(set);
  return s;
}

at::Tensor encode(const std::string& prompt, std::shared_ptr<const sdw::embedding_set> set) {
  auto& e = shared_tiny_engine();
  sdw::prompt_encoder encoder(e.model->text(), e.tokenizer, settings_with(std::move(set)));
  return encoder.encode({prompt})[0];
}

std::vector<std::string> names(const std::vector<sdw::embedding_set::entry>& list) {
  std::vector<std::string> out;
  for (const auto& e : list) out.push_back(e->name);
  return out;
}

double rel_diff(const at::Tensor& ours, const at::Tensor& ref) {
  return (ours - ref).abs().max().item<double>() / std::max(1e-6, ref.abs().max().item<double>());
}

std::string repeat(const std::string& word, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += word + " ";
  return out;
}

/// Runs the reference over `cases` (prompt segments as JSON) and returns its conditionings.
std::vector<at::Tensor> reference(const std::vector<std::string>& cases, const std::map<std::string, std::string>& files) {
  sdw::test::temp_dir work;
  auto& e = shared_tiny_engine();
  std::string embeddings = "{";
  for (const auto& [name, file] : files) {
    embeddings += (embeddings.size() > 1 ? "," : "") + sdw::json_quote(name, false) + ":" + sdw::json_quote(file, false);
  }
  embeddings += "}";
  std::string prompts = "[";
  for (size_t i = 0; i < cases.size(); ++i) prompts += (i ? "," : "") + cases[i];
  prompts += "]";
  const std::string spec = work.file("spec.json");
  std::ofstream(spec) << "{\"checkpoint\":" << sdw::json_quote(sdw::test::tiny_model(e.dir), false)
                      << ",\"heads\":" << e.model->config().text.heads
                      << ",\"vocab\":" << sdw::json_quote(sdw::test::clip_vocab(), false) << ",\"embeddings\":" << embeddings
                      << ",\"comma_padding_backtrack\":20,\"prompts\":" << prompts
                      << ",\"out\":" << sdw::json_quote(work.file("cond"), false) << "}";
  const std::string script = std::string(std::getenv("SDW_SOURCE_DIR")) + "/tests/reference/embedding_reference.py";
  auto [rc, out] = sdw::test::run_command(sdw::test::python() + " " + script + " " + spec);
  BOOST_TEST_REQUIRE(rc == 0, "reference failed:\n" << out);
  std::vector<at::Tensor> conds;
  for (size_t i = 0; i < cases.size(); ++i) {
    conds.push_back(sdw::test::read_f32_file(work.file("cond." + std::to_string(i))).view({-1, width()}));
  }
  return conds;
}

std::map<std::string, std::string> reference_files() {
  const fs::path& in = the_folder().inside;
  return {{"tinyemb", (in / "tinyemb.safetensors").string()},
          {"multi-emb", (in / "sub" / "multi-emb.safetensors").string()},
          {"bigemb", (in / "bigemb.safetensors").string()}};
}

} // namespace

BOOST_AUTO_TEST_CASE(the_folder_loads_its_embeddings_and_skips_other_widths) {
  const auto set = the_set();
  BOOST_TEST(names(set->loaded()) == (std::vector<std::string>{"bigemb", "multi-emb", "tinyemb"}));
  BOOST_TEST(names(set->skipped()) == (std::vector<std::string>{"wideemb", "xlemb"}));
  const auto& multi = *set->loaded()[1];
  BOOST_TEST(multi.vectors == 3);
  BOOST_TEST(multi.shape == width());
  BOOST_TEST(!multi.step.has_value());
  BOOST_TEST(multi.hash == sdw::sha256_file_hex(multi.path));
  BOOST_TEST(multi.short_hash == multi.hash.substr(0, 12));
  BOOST_TEST(set->skipped()[0]->shape == width() + 8);
  BOOST_TEST(set->skipped()[1]->shape == 1280 + 768);
  BOOST_TEST(set->skipped()[1]->vectors == 2);
}

BOOST_AUTO_TEST_CASE(nothing_outside_the_folder_is_ever_loaded) {
  const auto set = the_set();
  for (const auto* list : {&set->loaded(), &set->skipped()}) {
    for (const auto& e : *list) {
      BOOST_TEST(e->name != "linked");
      BOOST_TEST(e->name != "outsider");
      BOOST_TEST(fs::path(e->path).string().rfind(fs::canonical(the_folder().inside).string(), 0) == 0);
    }
  }
  // Names that look like paths are words of the prompt, never files.
  const std::string outsider = (the_folder().outside / "outsider").string();
  for (const std::string& prompt : std::vector<std::string>{"a ../elsewhere/outsider cat", "a " + outsider + " cat", "a linked cat"}) {
    BOOST_TEST(at::equal(encode(prompt, the_set()), encode(prompt, nullptr)), prompt);
    BOOST_TEST(sdw::ti_hashes(prompt, "", 10, settings_with(the_set())).empty(), prompt);
  }
}

BOOST_AUTO_TEST_CASE(conditioning_matches_the_reference_with_the_vectors_in_place) {
  c10::InferenceMode guard;
  const std::string long_words = repeat("cat", 70);
  const std::string comma_words = repeat("cat", 60) + ", ";
  struct example {
    std::string prompt;
    std::string segments;  // the prompt's emphasis segments, as the reference takes them
  };
  const std::vector<example> cases = {
    {"a photo of tinyemb on a hill", R"([["a photo of tinyemb on a hill", 1.0]])"},
    {"a (tinyemb:1.3) house", R"([["a ", 1.0], ["tinyemb", 1.3], [" house", 1.0]])"},
    {"multi-emb in the rain", R"([["multi-emb in the rain", 1.0]])"},
    // 70 words leave 5 places: the 8 vectors close the chunk early and open the next.
    {long_words + "bigemb dog", R"([[")" + long_words + R"(bigemb dog", 1.0]])"},
    // A comma near the end of a full chunk moves the words after it on, the embedding's places too.
    {comma_words + "tinyemb " + repeat("dog", 20), R"([[")" + comma_words + "tinyemb " + repeat("dog", 20) + R"(", 1.0]])"},
    {"[bigemb] and multi-emb BREAK tinyemb",
     R"([["bigemb", 0.9090909090909091], [" and multi-emb", 1.0], ["BREAK", -1], ["tinyemb", 1.0]])"},
  };
  std::vector<std::string> segments;
  for (const auto& c : cases) segments.push_back(c.segments);
  const auto refs = reference(segments, reference_files());
  for (size_t i = 0; i < cases.size(); ++i) {
    const at::Tensor ours = encode(cases[i].prompt, the_set());
    BOOST_TEST_REQUIRE(ours.sizes() == refs[i].sizes(), cases[i].prompt);
    const double d = rel_diff(ours, refs[i]);
    BOOST_TEST_MESSAGE(cases[i].prompt.substr(0, 40) << ": relative difference " << d);
    BOOST_TEST(d <= 1e-4, cases[i].prompt << ": " << d);
    const at::Tensor plain = encode(cases[i].prompt, nullptr);
    BOOST_TEST((plain.sizes() != ours.sizes() || !at::allclose(ours, plain)), "the embedding changed nothing");
  }
  // The boundary case takes two chunks: 70 words, then the 8 vectors and "dog".
  BOOST_TEST(refs[3].size(0) == 2 * 77);
}

BOOST_AUTO_TEST_CASE(a_job_uses_embeddings_in_prompt_and_negative_and_notes_ti_hashes) {
  c10::InferenceMode guard;
  auto& e = shared_tiny_engine();
  const sdw::txt2img_request req = sdw::parse_txt2img_request(
    R"({"prompt": "multi-emb on a hill", "negative_prompt": "blurry tinyemb", "steps": 3, "width": 64, "height": 64,
        "sampler_name": "Euler", "seed": 1})");
  const sdw::options opts;
  const sdw::txt2img_plan plan = sdw::make_txt2img_plan(*e.model, req, opts, nullptr, the_set());
  const sdw::plan_batch batch = sdw::encode_plan_batch(*e.model, e.tokenizer, plan, 0);
  const auto refs = reference({R"([["multi-emb on a hill", 1.0]])", R"([["blurry tinyemb", 1.0]])"}, reference_files());
  BOOST_TEST(rel_diff(batch.conds.at(0).parts.at(0).first.at(0).cond, refs[0]) <= 1e-4);
  BOOST_TEST(rel_diff(batch.unconds.at(0).at(0).cond, refs[1]) <= 1e-4);

  // A1111 encodes the negative prompt first; the positive's hashes go in front of it.
  const auto& multi = *the_set()->loaded()[1];
  const auto& tiny = *the_set()->loaded()[2];
  const std::string expected = "multi-emb: " + multi.short_hash + ", tinyemb: " + tiny.short_hash;
  std::string noted;
  for (const auto& [k, v] : plan.info_in.extra_params) {
    if (k == "TI hashes") noted = v;
  }
  BOOST_TEST(noted == expected);
  const std::string infotext = sdw::create_infotext(plan.info_in);
  BOOST_TEST(infotext.find("TI hashes: \"" + expected + "\"") != std::string::npos, infotext);

  sdw::options off;
  off.textual_inversion_add_hashes_to_infotext = false;
  const sdw::txt2img_plan quiet = sdw::make_txt2img_plan(*e.model, req, off, nullptr, the_set());
  BOOST_TEST(sdw::create_infotext(quiet.info_in).find("TI hashes") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_library_reads_the_folder_again_when_it_changes_or_when_asked) {
  sdw::test::temp_dir dir;
  const fs::path folder = dir.dir / "embeddings";
  fs::create_directories(folder / "deep");
  sdw::embedding_library library(folder.string());
  BOOST_TEST(library.current() == nullptr);  // no model yet
  library.load_for({width(), false}, std::make_shared<const sdw::clip_tokenizer>(shared_tiny_engine().tokenizer));
  BOOST_TEST(library.current()->loaded().empty());
  sdw::make_embedding(width(), 1, 9, (folder / "fresh.safetensors").string());
  // The folder's time moves with the new file (set explicitly: coarse clocks may not show it).
  fs::last_write_time(folder, fs::file_time_type::clock::now() + std::chrono::seconds(5));
  BOOST_TEST(names(library.current()->loaded()) == (std::vector<std::string>{"fresh"}));
  // A file in a subfolder leaves the folder's own time alone: it waits for a refresh, as in A1111.
  sdw::make_embedding(width(), 1, 10, (folder / "deep" / "later.safetensors").string());
  fs::last_write_time(folder, fs::last_write_time(folder));
  BOOST_TEST(names(library.current()->loaded()) == (std::vector<std::string>{"fresh"}));
  library.refresh();
  BOOST_TEST(names(library.last()->loaded()) == (std::vector<std::string>{"fresh", "later"}));
}

BOOST_AUTO_TEST_CASE(make_embedding_refuses_impossible_sizes) {
  sdw::test::temp_dir dir;
  BOOST_CHECK_THROW(sdw::make_embedding(width(), 0, 1, dir.file("a.safetensors")), sdw::error);
  BOOST_CHECK_THROW(sdw::make_embedding(width(), 76, 1, dir.file("a.safetensors")), sdw::error);
  sdw::make_embedding(width(), 2, 1, dir.file("a.safetensors"));
  sdw::make_embedding(width(), 2, 1, dir.file("b.safetensors"));
  BOOST_TEST(sdw::test::slurp(dir.file("a.safetensors")) == sdw::test::slurp(dir.file("b.safetensors")));
}

// torch.save files, written by the Python env's torch, read by sdworker's restricted reader.
BOOST_AUTO_TEST_CASE(pt_and_bin_files_give_what_the_same_vectors_give_in_safetensors) {
  sdw::test::temp_dir dir;
  for (const char* sub : {"st", "pt", "bin", "evil"}) fs::create_directories(dir.dir / sub);
  sdw::make_embedding(width(), 2, 31, (dir.dir / "st" / "samevec.safetensors").string());
  {
    auto file = sdw::safetensors_file::open((dir.dir / "st" / "samevec.safetensors").string());
    const sdw::st_tensor& t = *file->find("emb_params");
    std::ofstream(dir.file("vec.f32"), std::ios::binary).write(reinterpret_cast<const char*>(t.data), static_cast<std::streamsize>(t.nbytes));
  }
  const std::string marker = dir.file("ran");
  const std::string script = dir.file("write.py");
  std::ofstream(script)
    << "import os, sys, numpy as np, torch\n"
    << "d, w = sys.argv[1], int(sys.argv[2])\n"
    << "vec = torch.from_numpy(np.fromfile(d + '/vec.f32', dtype='<f4').reshape(2, w))\n"
    << "torch.save({'string_to_token': {'*': 265}, 'string_to_param': {'*': vec}, 'name': 'other',\n"
    << "            'step': 1500, 'sd_checkpoint': 'abcdef12', 'sd_checkpoint_name': 'my-model'}, d + '/pt/samevec.pt')\n"
    << "torch.save({'<samevec>': vec.clone()}, d + '/bin/samevec.bin')\n"
    << "class Evil:\n"
    << "    def __reduce__(self):\n"
    << "        return (os.system, ('touch ' + d + '/ran',))\n"
    << "torch.save({'string_to_param': {'*': Evil()}}, d + '/evil/samevec.pt')\n";
  auto [rc, out] = sdw::test::run_command(sdw::test::python() + " " + script + " " + dir.path + " " + std::to_string(width()));
  BOOST_TEST_REQUIRE(rc == 0, out);

  const auto tokenizer = std::make_shared<const sdw::clip_tokenizer>(shared_tiny_engine().tokenizer);
  auto set_of = [&](const char* sub) {
    return std::make_shared<const sdw::embedding_set>((dir.dir / sub).string(), sdw::embedding_kind{width(), false}, tokenizer);
  };
  const auto st = set_of("st"), pt = set_of("pt"), bin = set_of("bin"), evil = set_of("evil");
  const std::string prompt = "a samevec under the sea";
  const at::Tensor expected = encode(prompt, st);
  BOOST_TEST(!at::equal(expected, encode(prompt, nullptr)));
  BOOST_TEST(at::equal(encode(prompt, pt), expected));
  BOOST_TEST(at::equal(encode(prompt, bin), expected));

  // A1111's listing fields come from the .pt file; the name is the file's, not the stored one.
  BOOST_TEST_REQUIRE(names(pt->loaded()) == (std::vector<std::string>{"samevec"}));
  const auto& e = *pt->loaded()[0];
  BOOST_TEST(e.step.value_or(-1) == 1500);
  BOOST_TEST(e.sd_checkpoint.value_or("") == "abcdef12");
  BOOST_TEST(e.sd_checkpoint_name.value_or("") == "my-model");
  BOOST_TEST(e.vectors == 2);
  BOOST_TEST(!bin->loaded()[0]->step.has_value());

  // A pickle that names a function is refused: nothing loaded, nothing run.
  BOOST_TEST(evil->loaded().empty());
  BOOST_TEST(evil->skipped().empty());
  BOOST_TEST(!fs::exists(marker));
}
