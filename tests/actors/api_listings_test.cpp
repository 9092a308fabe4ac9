#define BOOST_TEST_MODULE api_listings
#include <boost/test/unit_test.hpp>

#define _TURN_OFF_PLATFORM_STRING
#include "runtime/base/encoding.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/base/png_codec.hpp"
#include "tests/support/api_server.hpp"

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

using sdw::json_value;
using sdw::test::member;

namespace {

/// The styles.csv the shared server reads (made before the server starts).
const std::string& styles_file() {
  static sdw::test::temp_dir dir;
  static const std::string path = dir.file("styles.csv");
  return path;
}

void write_styles(const std::string& text) { std::ofstream(styles_file(), std::ios::binary) << text; }

sdw::test::api_server& server() {
  static const bool written = (write_styles("name,prompt,negative_prompt\nQuality,masterpiece,lowres\n"), true);
  (void)written;
  return sdw::test::checked_shared_api_server({"--styles-file", styles_file()}).server;
}

sdw::test::http_reply get(const std::string& path) { return server().call("GET", path); }

sdw::test::http_reply post(const std::string& path, const std::string& body = "") {
  return server().call("POST", path, body);
}

std::string png_info_body(const std::string& image) {
  json_value body = json_value::object();
  body.set("image", image);
  return sdw::to_json(body);
}

std::vector<std::string> keys_of(const json_value& object) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : object.as_object()) {
    keys.push_back(k);
  }
  return keys;
}

} // namespace

BOOST_AUTO_TEST_CASE(cmd_flags_show_the_worker_in_a1111s_model) {
  const auto r = get("/sdapi/v1/cmd-flags");
  BOOST_TEST_REQUIRE(r.status == 200, r.body);
  const auto keys = keys_of(r.json);
  BOOST_TEST(keys.size() == 126u);  // 121 dests of cmd_args.py, 5 of the built-in extensions' preload.py
  BOOST_TEST(std::set<std::string>(keys.begin(), keys.end()).size() == keys.size());
  BOOST_TEST(keys.front() == "f");
  BOOST_TEST(keys.back() == "swinir_models_path");
  BOOST_TEST(member(r.json, "api").as_bool());
  BOOST_TEST(member(r.json, "nowebui").as_bool());
  BOOST_TEST(member(r.json, "listen").as_bool() == false);  // bound to 127.0.0.1
  BOOST_TEST(member(r.json, "port").as_string() == std::to_string(server().port()));
  BOOST_TEST(member(r.json, "no_half_vae").as_bool());
  BOOST_TEST(member(r.json, "api_auth").is_null());
  BOOST_TEST(sdw::to_json(member(r.json, "styles_file")) == "[\"" + styles_file() + "\"]");
  BOOST_TEST(member(r.json, "ckpt").as_string() == sdw::test::checked_shared_api_server({}).model);
  BOOST_TEST(member(r.json, "models_dir").as_string() == server().dir().path);
}

BOOST_AUTO_TEST_CASE(upscalers_and_latent_modes_are_a1111s_builtins) {
  auto r = get("/sdapi/v1/upscalers");
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body == R"([{"name":"None","model_name":null,"model_path":null,"model_url":null,"scale":4.0},)"
                       R"({"name":"Lanczos","model_name":null,"model_path":null,"model_url":null,"scale":4.0},)"
                       R"({"name":"Nearest","model_name":null,"model_path":null,"model_url":null,"scale":4.0}])");
  r = get("/sdapi/v1/latent-upscale-modes");
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body == R"j([{"name":"Latent"},{"name":"Latent (antialiased)"},{"name":"Latent (bicubic)"},)j"
                       R"j({"name":"Latent (bicubic antialiased)"},{"name":"Latent (nearest)"},)j"
                       R"j({"name":"Latent (nearest-exact)"}])j");
}

BOOST_AUTO_TEST_CASE(lists_of_what_the_worker_does_not_have_are_empty) {
  for (const std::string path : {"/sdapi/v1/sd-vae", "/sdapi/v1/hypernetworks", "/sdapi/v1/face-restorers",
                                 "/sdapi/v1/realesrgan-models", "/sdapi/v1/loras", "/sdapi/v1/extensions"}) {
    const auto r = get(path);
    BOOST_TEST(r.status == 200, path);
    BOOST_TEST(r.body == "[]", path);
  }
  auto r = get("/sdapi/v1/embeddings");
  BOOST_TEST(r.body == R"({"loaded":{},"skipped":{}})");
  // SD upscale's controls as A1111's ScriptArgs.
  r = get("/sdapi/v1/script-info");
  BOOST_TEST(r.body.find(R"([{"name":"sd upscale","is_alwayson":false,"is_img2img":true,"args":[{"label":"",)") == 0u, r.body);
  BOOST_TEST(r.body.find(R"({"label":"Tile overlap","value":64,"minimum":0,"maximum":256,"step":16,"choices":null})") !=
               std::string::npos, r.body);
  BOOST_TEST(r.body.find(R"({"label":"Upscaler","value":"None","minimum":null,"maximum":null,"step":null,)"
                         R"("choices":["None","Lanczos","Nearest"]})") != std::string::npos, r.body);
  r = get("/sdapi/v1/scripts");
  // The scripts a request may name here: A1111's always-on built-ins (accepted as A1111's API
  // treats them) and SD upscale on img2img.
  BOOST_TEST(r.body == R"({"txt2img":["refiner","seed","sampler","comments","extra options","hypertile"],)"
                       R"("img2img":["refiner","seed","sampler","comments","extra options","hypertile",)"
                       R"("soft inpainting","sd upscale"]})");
}

BOOST_AUTO_TEST_CASE(refresh_and_checkpoint_routes_answer_as_a1111) {
  for (const std::string path : {"/sdapi/v1/refresh-embeddings", "/sdapi/v1/refresh-vae", "/sdapi/v1/refresh-loras"}) {
    const auto r = post(path);
    BOOST_TEST(r.status == 200, path);
    BOOST_TEST(r.body == "null", path);
  }
  // unload-checkpoint lets the device's models go (/health shows none held); the next job loads
  // the startup checkpoint again and makes the same image; reload-checkpoint loads it at once.
  const std::string body = R"({"steps":1,"width":64,"height":64,"seed":3})";
  const auto before = post("/sdapi/v1/txt2img", body);
  BOOST_TEST_REQUIRE(before.status == 200);
  const auto device = [] { return sdw::test::member(get("/health").json, "devices").as_array().at(0); };
  BOOST_TEST(sdw::test::member(device(), "modelBytes").as_number() > 0);
  for (const std::string path : {"/sdapi/v1/unload-checkpoint", "/sdapi/v1/reload-checkpoint"}) {
    const auto r = post(path);
    BOOST_TEST(r.status == 200, path);
    BOOST_TEST(r.body == "{}", path);
    // /health leaves out what a device does not hold.
    const auto held = device();
    const bool unloaded = path == "/sdapi/v1/unload-checkpoint";
    BOOST_TEST((held.find("modelBytes") == nullptr) == unloaded, path << ": " << sdw::to_json(held));
    BOOST_TEST((held.find("models") == nullptr) == unloaded, path << ": " << sdw::to_json(held));
    if (unloaded) {
      const auto after = post("/sdapi/v1/txt2img", body);
      BOOST_TEST_REQUIRE(after.status == 200);
      BOOST_TEST(sdw::test::images_of(after).at(0).pixels == sdw::test::images_of(before).at(0).pixels);
      BOOST_TEST(post(path).status == 200);  // unloaded again, for reload to load
    }
  }
  BOOST_TEST(post("/sdapi/v1/txt2img", body).status == 200);
}

BOOST_AUTO_TEST_CASE(prompt_styles_come_from_the_styles_file_as_it_is_now) {
  auto r = get("/sdapi/v1/prompt-styles");
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body == R"([{"name":"Quality","prompt":"masterpiece","negative_prompt":"lowres"}])");
  write_styles("name,prompt\nOne,\"a, b\"\nTwo\n");
  r = get("/sdapi/v1/prompt-styles");
  BOOST_TEST(r.body == R"([{"name":"One","prompt":"a, b","negative_prompt":""},)"
                       R"({"name":"Two","prompt":null,"negative_prompt":""}])");
  std::filesystem::remove(styles_file());
  BOOST_TEST(get("/sdapi/v1/prompt-styles").body == "[]");
  write_styles("name,prompt,negative_prompt\nQuality,masterpiece,lowres\n");
}

BOOST_AUTO_TEST_CASE(png_info_reads_back_what_txt2img_made) {
  const auto made = post("/sdapi/v1/txt2img",
                         R"({"prompt":"a red cube, masterpiece","negative_prompt":"blurry, lowres","steps":3,)"
                         R"("width":64,"height":96,"seed":1234,"subseed":77,"subseed_strength":0.5,)"
                         R"("sampler_name":"DPM++ 2M","scheduler":"exponential","cfg_scale":6.5,)"
                         R"("override_settings":{"CLIP_stop_at_last_layers":2}})");
  BOOST_TEST_REQUIRE(made.status == 200, made.body.substr(0, 500));
  const std::string image = member(made.json, "images").as_array().at(0).as_string();
  const std::string infotext = sdw::decode_png(sdw::base64_decode(image)).text.at("parameters");

  const auto r = post("/sdapi/v1/png-info", png_info_body(image));
  BOOST_TEST_REQUIRE(r.status == 200, r.body);
  BOOST_TEST((keys_of(r.json) == std::vector<std::string>{"info", "items", "parameters"}));
  BOOST_TEST(member(r.json, "info").as_string() == infotext);
  BOOST_TEST(sdw::to_json(member(r.json, "items")) == "{}");
  const json_value& p = member(r.json, "parameters");
  // The styles file's Quality style matches the end of both prompts, so A1111 takes it out.
  BOOST_TEST(member(p, "Prompt").as_string() == "a red cube");
  BOOST_TEST(member(p, "Negative prompt").as_string() == "blurry");
  BOOST_TEST(sdw::to_json(member(p, "Styles array")) == R"(["Quality"])");
  BOOST_TEST(member(p, "Steps").as_string() == "3");
  BOOST_TEST(member(p, "Sampler").as_string() == "DPM++ 2M");
  BOOST_TEST(member(p, "Schedule type").as_string() == "Exponential");
  BOOST_TEST(member(p, "CFG scale").as_string() == "6.5");
  BOOST_TEST(member(p, "Seed").as_string() == "1234");
  BOOST_TEST(member(p, "Size-1").as_string() == "64");
  BOOST_TEST(member(p, "Size-2").as_string() == "96");
  BOOST_TEST(member(p, "Variation seed").as_string() == "77");
  BOOST_TEST(member(p, "Variation seed strength").as_string() == "0.5");
  BOOST_TEST(member(p, "Clip skip").as_string() == "2");
  BOOST_TEST(member(p, "Model").as_string() == "tiny");
  BOOST_TEST(member(p, "RNG").as_string() == "GPU");  // a default the parse adds
  BOOST_TEST(member(p, "Masked area padding").as_int() == 32);

  // A data URL works too.
  const auto d = post("/sdapi/v1/png-info", png_info_body("data:image/png;base64," + image));
  BOOST_TEST(d.status == 200);
  BOOST_TEST(member(d.json, "info").as_string() == infotext);
}

BOOST_AUTO_TEST_CASE(png_info_refuses_bad_input_as_a1111_does) {
  auto r = post("/sdapi/v1/png-info", png_info_body("this is not an image"));
  BOOST_TEST(r.status == 500);
  BOOST_TEST(member(r.json, "error").as_string() == "HTTPException");
  BOOST_TEST(member(r.json, "detail").as_string().find("Invalid encoded image (image: ") == 0u, r.body);
  r = post("/sdapi/v1/png-info", png_info_body(sdw::base64_encode("plain text, not a PNG")));
  BOOST_TEST(r.status == 500);
  BOOST_TEST(member(r.json, "detail").as_string().find("image: ") != std::string::npos, r.body);
  r = post("/sdapi/v1/png-info", "{}");
  BOOST_TEST(r.status == 422);
  BOOST_TEST(r.body == R"({"detail":[{"loc":["body","image"],"msg":"field required","type":"value_error.missing"}]})");
  r = post("/sdapi/v1/png-info", "{\"image\": ");
  BOOST_TEST(r.status == 422);
  BOOST_TEST(r.body.find("value_error.jsondecode") != std::string::npos);
  BOOST_TEST(get("/sdapi/v1/png-info").status == 405);
  BOOST_TEST(post("/sdapi/v1/upscalers").status == 405);
  BOOST_TEST(get("/sdapi/v1/refresh-loras").status == 405);
  BOOST_TEST(get("/sdapi/v1/upscaler").status == 404);
}

BOOST_AUTO_TEST_CASE(interrogate_says_no_model_ships) {
  const auto r = post("/sdapi/v1/interrogate", R"({"image":"","model":"clip"})");
  BOOST_TEST(r.status == 404);
  BOOST_TEST(member(r.json, "error").as_string() == "HTTPException");
  BOOST_TEST(member(r.json, "detail").as_string().find("Model not found") == 0u, r.body);
  BOOST_TEST(post("/sdapi/v1/interrogate", R"({"model":[]})").status == 422);
}

// With --api-auth every listing route asks for credentials, except the Lora extension's two,
// which A1111 adds outside its API's authentication.
BOOST_AUTO_TEST_CASE(credentials_apply_as_in_a1111) {
  sdw::test::temp_dir models;
  sdw::test::api_server s(sdw::test::tiny_model(models), {"--api-auth", "alice:secret", "--api-key", "k-7"});
  BOOST_TEST_REQUIRE(s.wait_until_up(), s.log());
  const sdw::test::header_list alice = {{"Authorization", "Basic " + sdw::base64_encode("alice:secret")}};
  for (const std::string path : {"/sdapi/v1/cmd-flags", "/sdapi/v1/upscalers", "/sdapi/v1/prompt-styles",
                                 "/sdapi/v1/embeddings", "/sdapi/v1/scripts", "/sdapi/v1/extensions"}) {
    BOOST_TEST_CONTEXT(path) {
      auto r = s.call("GET", path);
      BOOST_TEST(r.status == 401);
      BOOST_TEST(r.body == R"({"error":"HTTPException","detail":"Not authenticated","body":"","errors":""})");
      BOOST_TEST(s.call("GET", path, "", alice).status == 200);
      BOOST_TEST(s.call("GET", path, "", {{"Authorization", "Bearer k-7"}}).status == 200);
    }
  }
  BOOST_TEST(s.call("POST", "/sdapi/v1/refresh-vae").status == 401);
  BOOST_TEST(s.call("POST", "/sdapi/v1/unload-checkpoint").status == 401);
  BOOST_TEST(s.call("POST", "/sdapi/v1/unload-checkpoint", "", alice).status == 200);
  // Outside A1111's auth.
  BOOST_TEST(s.call("GET", "/sdapi/v1/loras").body == "[]");
  BOOST_TEST(s.call("POST", "/sdapi/v1/refresh-loras").body == "null");
  // png-info's body is decoded before the credentials are asked for, and checked after.
  BOOST_TEST(s.call("POST", "/sdapi/v1/png-info", "{\"image\": ").status == 422);
  BOOST_TEST(s.call("POST", "/sdapi/v1/png-info", "{}").status == 401);
  BOOST_TEST(s.call("POST", "/sdapi/v1/png-info", "{}", alice).status == 422);
  BOOST_TEST(s.call("POST", "/sdapi/v1/interrogate", "{}").status == 401);
  BOOST_TEST(s.call("POST", "/sdapi/v1/interrogate", "{}", alice).status == 404);
}
