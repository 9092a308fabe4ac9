#define BOOST_TEST_MODULE api_lora
#include <boost/test/unit_test.hpp>

#define _TURN_OFF_PLATFORM_STRING
#include "runtime/base/json_writer.hpp"
#include "runtime/engine/make_lora.hpp"
#include "runtime/engine/safetensors.hpp"
#include "tests/support/api_server.hpp"

#include <filesystem>
#include <fstream>

// <lora:…> tags over real HTTP: the server's Lora folder (--lora-dir) holds a LoRA made by make_lora.

using sdw::json_value;
using sdw::test::member;

namespace {

/// The Lora folder, made before the server starts.
/// Another network file with kohya-ss training metadata: `ss_output_name` (its alias), a JSON
/// string, and cover images A1111 leaves out of the listing.
void copy_with_metadata(const std::string& from, const std::string& to) {
  auto file = sdw::safetensors_file::open(from);
  std::vector<sdw::st_write_entry> entries;
  for (const auto& t : file->tensors()) {
    entries.push_back({t.name, t.dtype, t.shape, std::string(reinterpret_cast<const char*>(t.data), t.nbytes)});
  }
  sdw::write_safetensors(to, entries,
                         {{"ss_output_name", "brushwork"},
                          {"ss_network_dim", "4"},
                          {"ss_tag_frequency", R"({"10_brush": {"ink": 3, "paper": 1}})"},
                          {"ss_note", "{not json"},
                          {"ssmd_cover_images", R"(["iVBORw0KGgo="])"}});
}

const std::string& lora_dir() {
  static sdw::test::temp_dir dir;
  static const std::string path = [] {
    sdw::make_lora(sdw::model_preset::tiny, sdw::lora_kind::locon, 4, sdw::st_dtype::f16, 11, dir.file("detail.safetensors"));
    std::filesystem::create_directories(dir.path + "/styles");
    sdw::make_lora(sdw::model_preset::tiny, sdw::lora_kind::lora, 4, sdw::st_dtype::f16, 12, dir.file("plain.safetensors"));
    copy_with_metadata(dir.file("plain.safetensors"), dir.path + "/styles/ink.safetensors");
    std::filesystem::remove(dir.file("plain.safetensors"));
    std::ofstream(dir.file("broken.safetensors")) << "not a safetensors file";
    return dir.path;
  }();
  return path;
}

sdw::test::http_reply call(const std::string& method, const std::string& path) {
  auto& s = sdw::test::checked_shared_api_server({"--lora-dir", lora_dir()});
  return s.server.call(method, path, "");
}

sdw::test::http_reply txt2img(const std::string& prompt) {
  auto& s = sdw::test::checked_shared_api_server({"--lora-dir", lora_dir()});
  return s.server.call("POST", "/sdapi/v1/txt2img",
                       R"({"prompt":")" + prompt + R"(","steps":3,"width":64,"height":64,"seed":4,"sampler_name":"Euler"})");
}

} // namespace

BOOST_AUTO_TEST_CASE(a_lora_tag_changes_the_image_and_is_noted_in_the_infotext) {
  const auto plain = txt2img("a lighthouse ");
  const auto with = txt2img("a lighthouse <lora:detail:0.9>");
  BOOST_TEST_REQUIRE(plain.status == 200, plain.body.substr(0, 400));
  BOOST_TEST_REQUIRE(with.status == 200, with.body.substr(0, 400));
  const auto a = sdw::test::images_of(plain), b = sdw::test::images_of(with);
  BOOST_TEST(a.at(0).pixels != b.at(0).pixels);
  const std::string& info = b.at(0).text.at("parameters");
  BOOST_TEST(info.rfind("a lighthouse <lora:detail:0.9>\n", 0) == 0, info);
  BOOST_TEST(info.find("Lora hashes: \"detail: ") != std::string::npos, info);
  const json_value extra = member(sdw::parse_json(member(with.json, "info").as_string()), "extra_generation_params");
  BOOST_TEST(member(extra, "Lora hashes").as_string().rfind("detail: ", 0) == 0);
  // Weights are back for the next job.
  BOOST_TEST(sdw::test::images_of(txt2img("a lighthouse ")).at(0).pixels == a.at(0).pixels);
}

BOOST_AUTO_TEST_CASE(an_unknown_lora_still_answers_200_with_the_plain_image) {
  const auto plain = txt2img("a lighthouse ");
  const auto unknown = txt2img("a lighthouse <lora:nosuch:1>");
  const auto escape = txt2img("a lighthouse <lora:../detail:1>");
  for (const auto* r : {&unknown, &escape}) {
    BOOST_TEST_REQUIRE(r->status == 200, r->body.substr(0, 400));
    BOOST_TEST(sdw::test::images_of(*r).at(0).pixels == sdw::test::images_of(plain).at(0).pixels);
    BOOST_TEST(sdw::test::images_of(*r).at(0).text.at("parameters").find("Lora hashes") == std::string::npos);
  }
}

// GET /sdapi/v1/loras as A1111's Lora extension answers it: name, alias (ss_output_name), path and
// the header's metadata with JSON strings decoded; the alias also finds the network in a prompt.
BOOST_AUTO_TEST_CASE(the_lora_folder_is_listed_with_names_aliases_and_metadata) {
  const auto r = call("GET", "/sdapi/v1/loras");
  BOOST_TEST_REQUIRE(r.status == 200, r.body);
  const auto& list = r.json.as_array();
  BOOST_TEST_REQUIRE(list.size() == 3u, r.body);
  // A file whose header cannot be read is listed without metadata, as A1111 lists it.
  BOOST_TEST(member(list.at(0), "name").as_string() == "broken");
  BOOST_TEST(sdw::to_json(member(list.at(0), "metadata")) == "{}");
  const json_value& detail = list.at(1);
  BOOST_TEST(member(detail, "name").as_string() == "detail");
  BOOST_TEST(member(detail, "alias").as_string() == "detail");
  BOOST_TEST(member(detail, "path").as_string() == std::filesystem::canonical(lora_dir() + "/detail.safetensors").string());
  const json_value& ink = list.at(2);
  BOOST_TEST(member(ink, "name").as_string() == "ink");
  BOOST_TEST(member(ink, "alias").as_string() == "brushwork");
  const json_value& meta = member(ink, "metadata");
  BOOST_TEST(member(meta, "ss_network_dim").as_string() == "4");
  BOOST_TEST(member(member(member(meta, "ss_tag_frequency"), "10_brush"), "ink").as_number() == 3);
  BOOST_TEST(member(meta, "ss_note").as_string() == "{not json");
  BOOST_TEST(meta.find("ssmd_cover_images") == nullptr, r.body);
  BOOST_TEST(call("POST", "/sdapi/v1/refresh-loras").body == "null");

  const auto plain = txt2img("a lighthouse ");
  const auto by_alias = txt2img("a lighthouse <lora:brushwork:1>");
  const auto by_name = txt2img("a lighthouse <lora:ink:1>");
  BOOST_TEST_REQUIRE(by_alias.status == 200, by_alias.body.substr(0, 400));
  BOOST_TEST(sdw::test::images_of(by_alias).at(0).pixels != sdw::test::images_of(plain).at(0).pixels);
  BOOST_TEST(sdw::test::images_of(by_alias).at(0).pixels == sdw::test::images_of(by_name).at(0).pixels);
  BOOST_TEST(sdw::test::images_of(by_alias).at(0).text.at("parameters").find("Lora hashes: \"brushwork: ") !=
             std::string::npos);
}
