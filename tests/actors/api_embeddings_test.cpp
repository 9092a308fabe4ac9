#define BOOST_TEST_MODULE api_embeddings
#include <boost/test/unit_test.hpp>

#define _TURN_OFF_PLATFORM_STRING
#include "runtime/base/encoding.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/engine/make_embedding.hpp"
#include "runtime/engine/make_model.hpp"
#include "tests/support/api_server.hpp"

#include <filesystem>

// Textual-inversion embeddings over real HTTP: the server's embeddings folder (--embeddings-dir)
// holds embeddings made by make_embedding; /sdapi/v1/embeddings lists them, refresh-embeddings reads
// the folder again, and a prompt that names one notes its hash in the infotext.

using sdw::json_value;
using sdw::test::member;
namespace fs = std::filesystem;

namespace {

int64_t tiny_width() { return sdw::preset_config(sdw::model_preset::tiny).text.width; }

/// The embeddings folder, made before the server starts.
const std::string& embeddings_dir() {
  static sdw::test::temp_dir dir;
  static const std::string path = [] {
    sdw::make_embedding(tiny_width(), 2, 21, dir.file("glowy.safetensors"));
    sdw::make_embedding(tiny_width() * 2, 1, 22, dir.file("toowide.safetensors"));
    return dir.path;
  }();
  return path;
}

sdw::test::api_server& server() {
  return sdw::test::checked_shared_api_server({"--embeddings-dir", embeddings_dir()}).server;
}

sdw::test::http_reply txt2img(const std::string& prompt, const std::string& negative = "") {
  return server().call("POST", "/sdapi/v1/txt2img",
                       R"({"prompt":")" + prompt + R"(","negative_prompt":")" + negative +
                         R"(","steps":3,"width":64,"height":64,"seed":4,"sampler_name":"Euler"})");
}

std::string listed_item(int64_t shape, int64_t vectors) {
  return R"({"step":null,"sd_checkpoint":null,"sd_checkpoint_name":null,"shape":)" + std::to_string(shape) +
         R"(,"vectors":)" + std::to_string(vectors) + "}";
}

} // namespace

BOOST_AUTO_TEST_CASE(the_listing_has_a1111s_loaded_and_skipped_shapes) {
  const auto r = server().call("GET", "/sdapi/v1/embeddings");
  BOOST_TEST_REQUIRE(r.status == 200, r.body);
  BOOST_TEST(r.body == R"({"loaded":{"glowy":)" + listed_item(tiny_width(), 2) + R"(},"skipped":{"toowide":)" +
                         listed_item(tiny_width() * 2, 1) + "}}");
}

BOOST_AUTO_TEST_CASE(an_embedding_in_the_prompt_changes_the_image_and_is_noted_as_ti_hashes) {
  const auto plain = txt2img("a glowing lamp");
  const auto with = txt2img("a glowy lamp");
  const auto negative = txt2img("a glowing lamp", "glowy");
  for (const auto* r : {&plain, &with, &negative}) {
    BOOST_TEST_REQUIRE(r->status == 200, r->body.substr(0, 400));
  }
  const std::string hash = sdw::sha256_file_hex(embeddings_dir() + "/glowy.safetensors").substr(0, 12);
  const auto a = sdw::test::images_of(plain), b = sdw::test::images_of(with), c = sdw::test::images_of(negative);
  BOOST_TEST(a.at(0).pixels != b.at(0).pixels);
  BOOST_TEST(a.at(0).pixels != c.at(0).pixels);
  BOOST_TEST(a.at(0).text.at("parameters").find("TI hashes") == std::string::npos);
  for (const auto* img : {&b, &c}) {
    const std::string& info = img->at(0).text.at("parameters");
    BOOST_TEST(info.find(", TI hashes: \"glowy: " + hash + "\", ") != std::string::npos, info);
  }
  const json_value extra = member(sdw::parse_json(member(with.json, "info").as_string()), "extra_generation_params");
  BOOST_TEST(member(extra, "TI hashes").as_string() == "glowy: " + hash);
}

BOOST_AUTO_TEST_CASE(refresh_reads_the_folder_again_and_runpod_inputs_reach_both_routes) {
  server();
  sdw::make_embedding(tiny_width(), 1, 23, embeddings_dir() + "/deep-later.safetensors.tmp");
  fs::create_directories(embeddings_dir() + "/deep");
  fs::rename(embeddings_dir() + "/deep-later.safetensors.tmp", embeddings_dir() + "/deep/later.safetensors");
  const auto call = [](const std::string& method, const std::string& endpoint) {
    return R"({"input":{"api":{"method":")" + method + R"(","endpoint":")" + endpoint + R"("},"payload":{}}})";
  };
  const auto refreshed = server().call("POST", "/runsync", call("POST", "/sdapi/v1/refresh-embeddings"));
  BOOST_TEST_REQUIRE(refreshed.status == 200, refreshed.body);
  BOOST_TEST(member(refreshed.json, "status").as_string() == "COMPLETED", refreshed.body);
  const auto listed = server().call("POST", "/runsync", call("GET", "/sdapi/v1/embeddings"));
  BOOST_TEST_REQUIRE(listed.status == 200, listed.body);
  const json_value& loaded = member(member(listed.json, "output"), "loaded");
  BOOST_TEST(sdw::to_json(member(loaded, "later")) == listed_item(tiny_width(), 1), listed.body);
  BOOST_TEST(sdw::to_json(member(loaded, "glowy")) == listed_item(tiny_width(), 2), listed.body);
  BOOST_TEST(server().call("POST", "/sdapi/v1/refresh-embeddings").body == "null");
}
