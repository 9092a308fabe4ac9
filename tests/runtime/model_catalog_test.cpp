#define BOOST_TEST_MODULE model_catalog
#include <boost/test/unit_test.hpp>

#include "tests/support/temp_dir.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/catalog/checkpoint_catalog.hpp"
#include "runtime/catalog/file_hash.hpp"
#include "runtime/catalog/vae_catalog.hpp"
#include "runtime/formats/model_choice.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/formats/txt2img_request.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace sdw;
using sdw::test::temp_dir;

namespace {

void write(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}

/// A models folder laid out as A1111's, with files whose bytes differ (so hashes differ).
struct models_folder {
  temp_dir dir;
  temp_dir outside;
  model_folders folders{dir.dir};

  models_folder() {
    write(folders.checkpoints() / "sub" / "b.safetensors", "checkpoint b");
    write(folders.checkpoints() / "A.safetensors", "checkpoint A");
    write(folders.checkpoints() / "A.yaml", "model: {}");
    write(folders.checkpoints() / "A.vae.safetensors", "A's own VAE");
    write(folders.checkpoints() / "notes.txt", "not a model");
    write(folders.root / "loose.safetensors", "a checkpoint in the root");
    write(folders.vae() / "vae10.safetensors", "vae 10");
    write(folders.vae() / "vae2.safetensors", "vae 2");
    write(outside.dir / "secret.safetensors", "outside the models folder");
    fs::create_symlink(outside.dir / "secret.safetensors", folders.checkpoints() / "link.safetensors");
    fs::create_directory_symlink(outside.dir, folders.checkpoints() / "elsewhere");
    fs::create_directory_symlink(folders.checkpoints() / "sub", folders.checkpoints() / "same");
  }
};

std::vector<std::string> names_of(const checkpoint_catalog& c) {
  std::vector<std::string> out;
  for (const auto& i : c.list()) out.push_back(i.name);
  return out;
}

txt2img_request request(const std::string& json) { return parse_txt2img_request(json); }

} // namespace

BOOST_AUTO_TEST_CASE(checkpoints_are_listed_with_a1111_names_and_nothing_outside_the_folder) {
  models_folder m;
  const checkpoint_catalog catalog(m.folders, "");
  // Sorted without case; VAE files, other files, and links leading outside are not checkpoints. A
  // link to a folder inside is walked once (its files are the same files).
  BOOST_TEST(names_of(catalog) == (std::vector<std::string>{"A.safetensors", "loose.safetensors", "sub/b.safetensors"}),
             boost::test_tools::per_element());
  const checkpoint_info& b = catalog.list()[2];
  BOOST_TEST(b.model_name == "sub_b");
  BOOST_TEST(b.stem == "b");
  BOOST_TEST(b.title() == "sub/b.safetensors");  // unhashed until loaded once, as A1111 lists it
  BOOST_TEST(b.path == fs::canonical(m.folders.checkpoints() / "sub" / "b.safetensors").string());
  BOOST_TEST(catalog.list()[0].config == (m.folders.checkpoints() / "A.yaml").string());
  BOOST_TEST(catalog.list()[1].config.empty());
}

BOOST_AUTO_TEST_CASE(a_checkpoint_is_found_by_each_alias_once_hashed) {
  models_folder m;
  checkpoint_catalog catalog(m.folders, "");
  const std::string path = (m.folders.checkpoints() / "sub" / "b.safetensors").string();
  const std::string legacy = legacy_model_hash(path);
  BOOST_TEST(catalog.find_exact("sub/b.safetensors") != nullptr);
  BOOST_TEST(catalog.find_exact("b") != nullptr);
  BOOST_TEST(catalog.find_exact("sub_b") != nullptr);
  BOOST_TEST(catalog.find_exact(legacy) != nullptr);
  BOOST_TEST(catalog.find_exact("sub/b.safetensors [" + legacy + "]") != nullptr);

  const std::string sha = cached_file_sha256(path);  // what a model's load does
  BOOST_TEST(catalog.find_exact(sha.substr(0, 10)) == nullptr);
  catalog.refresh_hashes();
  const checkpoint_info* b = catalog.find_exact(sha.substr(0, 10));
  BOOST_TEST_REQUIRE(b != nullptr);
  BOOST_TEST(b->title() == "sub/b.safetensors [" + sha.substr(0, 10) + "]");
  for (const std::string& alias : {sha, "b [" + sha.substr(0, 10) + "]", b->title()}) {
    BOOST_TEST(catalog.find_exact(alias) == b, alias);
  }
  // A1111's closest match: the shortest title containing the text, also after dropping a stale hash.
  BOOST_TEST(catalog.find("b.safe") == b);
  BOOST_TEST(catalog.find("sub/b.safetensors [0000000000]") == b);
  BOOST_TEST(catalog.find_exact("sub/b.safetensors [0000000000]") == nullptr);
  BOOST_TEST(catalog.find("nothing like it") == nullptr);
}

BOOST_AUTO_TEST_CASE(names_that_leave_the_folder_select_nothing) {
  models_folder m;
  const checkpoint_catalog catalog(m.folders, "");
  const std::string secret = (m.outside.dir / "secret.safetensors").string();
  for (const std::string& name : {secret, std::string("../secret.safetensors"), std::string("link.safetensors"),
                                  std::string("elsewhere/secret.safetensors"), std::string("secret"),
                                  std::string("../../") + m.outside.dir.filename().string() + "/secret.safetensors"}) {
    BOOST_TEST(catalog.find_exact(name) == nullptr, name);
    BOOST_TEST(catalog.find(name) == nullptr, name);
  }
  BOOST_TEST(catalog.at_path(secret) == nullptr);
}

BOOST_AUTO_TEST_CASE(the_startup_checkpoint_is_listed_wherever_it_is_and_a_rescan_finds_new_files) {
  models_folder m;
  const std::string startup = (m.outside.dir / "secret.safetensors").string();
  checkpoint_catalog catalog(m.folders, startup);
  BOOST_TEST_REQUIRE(catalog.startup() != nullptr);
  BOOST_TEST(catalog.startup()->name == "secret.safetensors");
  BOOST_TEST(catalog.find_exact("secret") == catalog.startup());

  write(m.folders.checkpoints() / "new.safetensors", "copied in later");
  BOOST_TEST(catalog.find_exact("new") == nullptr);
  catalog.rescan();
  BOOST_TEST(catalog.find_exact("new") != nullptr);
  // Without a startup file, the first listed runs.
  const checkpoint_catalog plain(m.folders, "");
  BOOST_TEST(plain.startup() == &plain.list().front());
}

BOOST_AUTO_TEST_CASE(vaes_are_listed_in_natural_order_and_chosen_as_a1111_chooses) {
  models_folder m;
  const auto vaes = scan_vaes(m.folders);
  std::vector<std::string> names;
  for (const auto& v : vaes) names.push_back(v.name);
  BOOST_TEST(names == (std::vector<std::string>{"A.vae.safetensors", "vae2.safetensors", "vae10.safetensors"}),
             boost::test_tools::per_element());
  const std::string a = (m.folders.checkpoints() / "A.safetensors").string();
  const std::string b = (m.folders.checkpoints() / "sub" / "b.safetensors").string();
  // "Automatic": a VAE named after the checkpoint, else the checkpoint's own.
  BOOST_TEST(resolve_vae(vaes, a, "Automatic")->name == "A.vae.safetensors");
  BOOST_TEST(!resolve_vae(vaes, b, "Automatic").has_value());
  BOOST_TEST(!resolve_vae(vaes, a, "None").has_value());
  BOOST_TEST(resolve_vae(vaes, a, "vae2.safetensors")->name == "vae2.safetensors");
  // Without per-model overrides, the file named beside the checkpoint wins over the option.
  BOOST_TEST(resolve_vae(vaes, a, "vae2.safetensors", false)->name == "A.vae.safetensors");
  try {
    resolve_vae(vaes, a, "missing.safetensors");
    BOOST_FAIL("an unknown VAE was accepted");
  } catch (const error& e) {
    BOOST_TEST(e.where() == "sd_vae");
    BOOST_TEST(e.message().find("missing.safetensors") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(pickle_checkpoints_and_vaes_are_listed_as_a1111_lists_them) {
  models_folder m;
  write(m.folders.checkpoints() / "old.ckpt", "a pickled checkpoint");
  write(m.folders.checkpoints() / "old.vae.ckpt", "old's own VAE");
  write(m.folders.checkpoints() / "x.vae.pt", "x's own VAE");
  write(m.folders.checkpoints() / "embedding.pt", "not a checkpoint");
  write(m.folders.root / "loose2.ckpt", "a pickled checkpoint in the root");
  write(m.folders.vae() / "w.ckpt", "vae w");
  write(m.folders.vae() / "v.pt", "vae v");
  const checkpoint_catalog catalog(m.folders, "");
  BOOST_TEST(names_of(catalog) == (std::vector<std::string>{"A.safetensors", "loose.safetensors", "loose2.ckpt",
                                                            "old.ckpt", "sub/b.safetensors"}),
             boost::test_tools::per_element());
  std::vector<std::string> vaes;
  for (const auto& v : scan_vaes(m.folders)) vaes.push_back(v.name);
  BOOST_TEST(vaes == (std::vector<std::string>{"A.vae.safetensors", "old.vae.ckpt", "v.pt", "vae2.safetensors",
                                               "vae10.safetensors", "w.ckpt", "x.vae.pt"}),
             boost::test_tools::per_element());
  const std::string old = (m.folders.checkpoints() / "old.ckpt").string();
  BOOST_TEST(resolve_vae(scan_vaes(m.folders), old, "Automatic")->name == "old.vae.ckpt");
}

BOOST_AUTO_TEST_CASE(a_request_chooses_its_files_or_is_refused_naming_the_field) {
  models_folder m;
  const checkpoint_catalog catalog(m.folders, "");
  const auto vaes = scan_vaes(m.folders);
  const auto choose = [&](const std::string& body, const json_object& stored = {}) {
    const txt2img_request r = request(body);
    return choose_model(r, resolve_options(stored, r.override_settings), catalog, vaes);
  };
  const model_choice plain = choose(R"({"prompt":"x"})");
  BOOST_TEST(plain.checkpoint == catalog.list().front().path);  // the first listed: A, with its VAE
  BOOST_TEST(fs::path(plain.vae).filename() == "A.vae.safetensors");
  const model_choice b = choose(R"({"prompt":"x","override_settings":{"sd_model_checkpoint":"b","sd_vae":"vae2.safetensors"}})");
  BOOST_TEST(fs::path(b.checkpoint).filename() == "b.safetensors");
  BOOST_TEST(fs::path(b.vae).filename() == "vae2.safetensors");
  BOOST_TEST(choose(R"({"prompt":"x"})", {{"sd_model_checkpoint", json_value("loose.safetensors")}}).checkpoint ==
             catalog.find_exact("loose")->path);

  const auto refused = [&](const std::string& body, const json_object& stored = {}) -> std::string {
    try {
      choose(body, stored);
    } catch (const error& e) {
      return e.where();
    }
    return "accepted";
  };
  BOOST_TEST(refused(R"({"prompt":"x","override_settings":{"sd_model_checkpoint":"nope"}})") ==
             "override_settings.sd_model_checkpoint");
  BOOST_TEST(refused(R"({"prompt":"x"})", {{"sd_model_checkpoint", json_value("nope")}}) == "sd_model_checkpoint");
  BOOST_TEST(refused(R"({"prompt":"x","override_settings":{"sd_vae":"nope.safetensors"}})") == "override_settings.sd_vae");
  BOOST_TEST(refused(R"({"prompt":"x","override_settings":{"sd_model_checkpoint":"../x.safetensors"}})") ==
             "override_settings.sd_model_checkpoint");
  BOOST_TEST(refused(R"({"prompt":"x","enable_hr":true,"denoising_strength":0.5,"hr_checkpoint_name":"nope"})") ==
             "hr_checkpoint_name");

  // hr_checkpoint_name: found as A1111's closest match; the VAE resolved for it as for a loaded
  // checkpoint; its short title (the stem, with the hash once known) for the infotext.
  const model_choice hr_b = choose(R"({"prompt":"x","enable_hr":true,"denoising_strength":0.5,"hr_checkpoint_name":"b"})");
  BOOST_TEST(hr_b.checkpoint == plain.checkpoint);
  BOOST_TEST(fs::path(hr_b.hires.checkpoint).filename() == "b.safetensors");
  BOOST_TEST(hr_b.hires.vae.empty());  // Automatic: b has no VAE of its own
  BOOST_TEST(hr_b.hires.title == "b");
  const model_choice hr_a = choose(R"({"prompt":"x","enable_hr":true,"denoising_strength":0.5,"hr_checkpoint_name":"A"})");
  BOOST_TEST(hr_a.hires.checkpoint == plain.checkpoint);
  BOOST_TEST(hr_a.hires.vae == plain.vae);
  BOOST_TEST(choose(R"({"prompt":"x","enable_hr":true,"denoising_strength":0.5,"hr_checkpoint_name":"Use same checkpoint"})")
               .hires.checkpoint.empty());
  BOOST_TEST(choose(R"({"prompt":"x","enable_hr":false,"hr_checkpoint_name":"b"})").hires.checkpoint.empty());

  // refiner_checkpoint: found the same way, for txt2img and img2img alike; "None" or "" names none.
  BOOST_TEST(refused(R"({"prompt":"x","refiner_checkpoint":"nope","refiner_switch_at":0.8})") == "refiner_checkpoint");
  const model_choice refiner = choose(R"({"prompt":"x","refiner_checkpoint":"b","refiner_switch_at":0.8})");
  BOOST_TEST(refiner.checkpoint == plain.checkpoint);
  BOOST_TEST(fs::path(refiner.refiner.checkpoint).filename() == "b.safetensors");
  BOOST_TEST(refiner.refiner.title == "b");
  BOOST_TEST(!refiner.hires.named());
  for (const char* none : {"None", "none", ""}) {
    BOOST_TEST(!choose(R"({"prompt":"x","refiner_checkpoint":")" + std::string(none) + R"("})").refiner.named());
  }
}
