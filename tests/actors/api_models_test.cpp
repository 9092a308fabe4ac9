#define BOOST_TEST_MODULE api_models
#include <boost/test/unit_test.hpp>

#define _TURN_OFF_PLATFORM_STRING
#include "runtime/engine/make_model.hpp"
#include "runtime/engine/safetensors.hpp"
#include "tests/support/api_server.hpp"
#include "tests/support/test_pictures.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using sdw::json_value;
using sdw::test::images_of;
using sdw::test::member;

namespace {

/// A checkpoint of the tiny preset with its own random weights.
void make_checkpoint(const fs::path& path, uint64_t seed) {
  fs::create_directories(path.parent_path());
  sdw::make_model(sdw::model_preset::tiny, sdw::st_dtype::f32, seed, path.string());
}

/// A VAE file as A1111 reads one: the autoencoder of `from`, without its checkpoint prefix.
void make_vae(const fs::path& from, const fs::path& out) {
  auto file = sdw::safetensors_file::open(from.string());
  std::vector<sdw::st_write_entry> entries;
  const std::string prefix = "first_stage_model.";
  for (const auto& t : file->tensors()) {
    if (t.name.rfind(prefix, 0) == 0) {
      entries.push_back({t.name.substr(prefix.size()), t.dtype, t.shape,
                         std::string(reinterpret_cast<const char*>(t.data), t.nbytes)});
    }
  }
  fs::create_directories(out.parent_path());
  sdw::write_safetensors(out.string(), entries, {});
}

/// The worker started with the shared tiny model ("tiny.safetensors", outside its models folder),
/// and a models folder holding a second checkpoint and a VAE made from a third.
sdw::test::shared_server& server() {
  auto& s = sdw::test::checked_shared_api_server({});
  static bool laid_out = false;
  if (!laid_out) {
    const fs::path root = s.server.dir().dir;
    make_checkpoint(root / "Stable-diffusion" / "other.safetensors", 11);
    make_checkpoint(s.models.dir / "donor.safetensors", 13);
    make_vae(s.models.dir / "donor.safetensors", root / "VAE" / "donor-vae.safetensors");
    laid_out = true;
  }
  return s;
}

sdw::test::http_reply call(const std::string& method, const std::string& path, const std::string& body = "") {
  return server().server.call(method, path, body);
}

std::string txt2img_body(const std::string& overrides = "", int seed = 5) {
  std::string body = R"({"prompt":"a lighthouse","steps":3,"width":64,"height":64,"sampler_name":"Euler","seed":)" +
                     std::to_string(seed);
  if (!overrides.empty()) {
    body += R"(,"override_settings":)" + overrides;
  }
  return body + "}";
}

struct generated {
  std::vector<uint8_t> pixels;
  std::string infotext;
};

generated generate(const std::string& body) {
  const auto r = call("POST", "/sdapi/v1/txt2img", body);
  BOOST_TEST_REQUIRE(r.status == 200, r.body.substr(0, 400));
  const auto images = images_of(r);
  BOOST_TEST_REQUIRE(images.size() == 1u);
  return {images[0].pixels, member(r.json, "info").is_string() ? images[0].text.at("parameters") : ""};
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// The same image within rounding: a batch of several requests may round a last bit differently from
/// one request alone on some CPUs (other GEMM kernels), which moves a pixel by one step, not more.
bool same_image(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size()) return false;
  int worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(int(a[i]) - int(b[i])));
  return worst <= 2;
}

} // namespace

BOOST_AUTO_TEST_CASE(the_models_folder_is_listed_in_a1111_shapes) {
  BOOST_TEST(call("POST", "/sdapi/v1/refresh-checkpoints").body == "null");
  const auto models = call("GET", "/sdapi/v1/sd-models");
  BOOST_TEST_REQUIRE(models.status == 200);
  std::vector<std::string> names;
  for (const auto& m : models.json.as_array()) {
    names.push_back(member(m, "model_name").as_string());
    for (const char* key : {"title", "model_name", "hash", "sha256", "filename", "config"}) {
      BOOST_TEST(m.find(key) != nullptr, key);
    }
  }
  BOOST_TEST((std::find(names.begin(), names.end(), "other") != names.end()), models.body);
  BOOST_TEST((std::find(names.begin(), names.end(), "tiny") != names.end()), models.body);
  BOOST_TEST(call("POST", "/sdapi/v1/refresh-vae").body == "null");
  const auto vaes = call("GET", "/sdapi/v1/sd-vae");
  BOOST_TEST_REQUIRE(vaes.status == 200);
  BOOST_TEST_REQUIRE(vaes.json.as_array().size() == 1u, vaes.body);
  BOOST_TEST(member(vaes.json.as_array()[0], "model_name").as_string() == "donor-vae.safetensors");
  BOOST_TEST(has(member(vaes.json.as_array()[0], "filename").as_string(), "/VAE/donor-vae.safetensors"));
}

BOOST_AUTO_TEST_CASE(jobs_alternating_two_checkpoints_each_get_their_own_images) {
  const std::string on_tiny = txt2img_body();
  const std::string on_other = txt2img_body(R"({"sd_model_checkpoint":"other"})");
  const generated tiny = generate(on_tiny);
  const generated other = generate(on_other);
  BOOST_TEST(!same_image(tiny.pixels, other.pixels));
  BOOST_TEST(has(tiny.infotext, "Model: tiny"), tiny.infotext);
  BOOST_TEST(has(other.infotext, "Model: other"), other.infotext);
  // By its title as /sd-models shows it, once hashed by its load.
  std::string title;
  const auto listed = call("GET", "/sdapi/v1/sd-models");
  for (const auto& m : listed.json.as_array()) {
    if (member(m, "model_name").as_string() == "other") title = member(m, "title").as_string();
  }
  BOOST_TEST_REQUIRE(has(title, "other.safetensors ["), title);
  BOOST_TEST(generate(txt2img_body(R"({"sd_model_checkpoint":")" + title + R"("})")).pixels == other.pixels);

  // Queued together, alternating: each answers with its own checkpoint's image, in order.
  std::vector<std::future<generated>> answers;
  for (int i = 0; i < 6; ++i) {
    answers.push_back(std::async(std::launch::async, generate, i % 2 == 0 ? on_tiny : on_other));
  }
  for (int i = 0; i < 6; ++i) {
    const generated g = answers[static_cast<size_t>(i)].get();
    BOOST_TEST(same_image(g.pixels, i % 2 == 0 ? tiny.pixels : other.pixels), "job " << i);
    BOOST_TEST(!same_image(g.pixels, i % 2 == 0 ? other.pixels : tiny.pixels), "job " << i);
    BOOST_TEST(has(g.infotext, i % 2 == 0 ? "Model: tiny" : "Model: other"), g.infotext);
  }
  // /health shows the whole cache of the device: both checkpoints, the last one used first.
  generate(on_other);
  const auto health = call("GET", "/health");
  const auto& device = member(health.json, "devices").as_array().at(0);
  const auto& held = member(device, "models").as_array();
  BOOST_TEST_REQUIRE(held.size() == 2u, health.body);
  BOOST_TEST(has(held.at(0).as_string(), "other.safetensors"), health.body);
  BOOST_TEST(has(held.at(1).as_string(), "tiny"), health.body);
  BOOST_TEST(member(device, "modelBytes").as_number() > 1e5);
}

BOOST_AUTO_TEST_CASE(the_stored_checkpoint_option_selects_the_model_for_later_jobs) {
  const generated other = generate(txt2img_body(R"({"sd_model_checkpoint":"other"})"));
  BOOST_TEST(call("POST", "/sdapi/v1/options", R"({"sd_model_checkpoint":"other.safetensors"})").status == 200);
  BOOST_TEST(generate(txt2img_body()).pixels == other.pixels);
  const auto refused = call("POST", "/sdapi/v1/options", R"({"sd_model_checkpoint":"nowhere.safetensors"})");
  BOOST_TEST(refused.status == 500);  // A1111's RuntimeError
  BOOST_TEST(has(refused.body, "nowhere.safetensors"));
  BOOST_TEST(call("POST", "/sdapi/v1/options", R"({"sd_model_checkpoint":"tiny"})").status == 200);
  BOOST_TEST(generate(txt2img_body()).pixels != other.pixels);
}

// override_settings_restore_afterwards false: A1111 leaves the overrides set, so they are the stored
// options of the requests that come after.
BOOST_AUTO_TEST_CASE(overrides_kept_afterwards_become_the_stored_options) {
  const generated other = generate(txt2img_body(R"({"sd_model_checkpoint":"other"})"));
  const generated plain = generate(txt2img_body());
  BOOST_TEST(other.pixels != plain.pixels);
  std::string kept = txt2img_body(R"({"sd_model_checkpoint":"other"})");
  kept.insert(kept.size() - 1, R"(,"override_settings_restore_afterwards":false)");
  BOOST_TEST(generate(kept).pixels == other.pixels);
  BOOST_TEST(generate(txt2img_body()).pixels == other.pixels);
  BOOST_TEST(has(call("GET", "/sdapi/v1/options").body, R"("sd_model_checkpoint":"other)"));
  BOOST_TEST(call("POST", "/sdapi/v1/options", R"({"sd_model_checkpoint":"tiny"})").status == 200);
  BOOST_TEST(generate(txt2img_body()).pixels == plain.pixels);
}

BOOST_AUTO_TEST_CASE(a_vae_file_chosen_per_request_changes_the_image_and_the_infotext) {
  const generated own = generate(txt2img_body());
  const generated with = generate(txt2img_body(R"({"sd_vae":"donor-vae.safetensors"})"));
  BOOST_TEST(own.pixels != with.pixels);
  BOOST_TEST(has(with.infotext, "VAE: donor-vae.safetensors"), with.infotext);
  BOOST_TEST(has(with.infotext, "VAE hash: "), with.infotext);
  BOOST_TEST(!has(own.infotext, "VAE"), own.infotext);
  const generated none = generate(txt2img_body(R"({"sd_vae":"None"})"));
  BOOST_TEST(none.pixels == own.pixels);
}

BOOST_AUTO_TEST_CASE(unknown_or_escaping_model_names_are_refused_naming_the_field) {
  // A file outside the models folder is never opened, by any name.
  const std::string donor = (server().models.dir / "donor.safetensors").string();
  for (const std::string& name : {std::string("nowhere"), std::string("../tiny.safetensors"), donor,
                                  std::string("donor")}) {
    const auto r = call("POST", "/sdapi/v1/txt2img", txt2img_body(R"({"sd_model_checkpoint":")" + name + R"("})"));
    BOOST_TEST(r.status == 422, name << ": " << r.body.substr(0, 300));
    BOOST_TEST(has(r.body, "sd_model_checkpoint"), r.body);
  }
  const auto vae = call("POST", "/sdapi/v1/txt2img", txt2img_body(R"({"sd_vae":"nope.safetensors"})"));
  BOOST_TEST(vae.status == 422, vae.body.substr(0, 300));
  BOOST_TEST(has(vae.body, "sd_vae"), vae.body);
  BOOST_TEST(server().server.call("GET", "/health").status == 200);
}

// hr_checkpoint_name: the second pass of hires fix runs on another checkpoint (A1111 switches after
// the first pass); the infotext keeps the first pass's model and names the hires one. Such jobs run
// on their own while plain jobs queued with them still batch.
BOOST_AUTO_TEST_CASE(a_hires_pass_on_another_checkpoint) {
  const auto hires_body = [](const std::string& hr_checkpoint) {
    return std::string(R"({"prompt":"a lighthouse","steps":2,"width":64,"height":64,"sampler_name":"Euler","seed":9,)") +
           R"("enable_hr":true,"denoising_strength":0.5,"hr_scale":1.5,"hr_second_pass_steps":2)" +
           (hr_checkpoint.empty() ? "" : R"(,"hr_checkpoint_name":")" + hr_checkpoint + "\"") + "}";
  };
  const generated same = generate(hires_body(""));
  const generated switched = generate(hires_body("other"));
  BOOST_TEST(!same_image(same.pixels, switched.pixels));
  BOOST_TEST(has(switched.infotext, "Model: tiny,"), switched.infotext);
  BOOST_TEST(has(switched.infotext, "Hires checkpoint: other"), switched.infotext);
  BOOST_TEST(!has(same.infotext, "Hires checkpoint"), same.infotext);
  // Naming the first pass's own checkpoint changes nothing but the infotext, as in A1111.
  const generated own = generate(hires_body("tiny"));
  BOOST_TEST(own.pixels == same.pixels);
  BOOST_TEST(has(own.infotext, "Hires checkpoint: tiny"), own.infotext);

  std::vector<std::future<generated>> answers;
  for (int i = 0; i < 4; ++i) {
    answers.push_back(std::async(std::launch::async, generate, i % 2 == 0 ? hires_body("other") : txt2img_body()));
  }
  const generated plain = generate(txt2img_body());
  for (int i = 0; i < 4; ++i) {
    const generated g = answers[static_cast<size_t>(i)].get();
    BOOST_TEST(same_image(g.pixels, i % 2 == 0 ? switched.pixels : plain.pixels), "job " << i);
  }

  const auto unknown = call("POST", "/sdapi/v1/txt2img", hires_body("nowhere"));
  BOOST_TEST(unknown.status == 422, unknown.body.substr(0, 300));
  BOOST_TEST(has(unknown.body, "hr_checkpoint_name"), unknown.body);
}

// refiner_checkpoint: another checkpoint takes the sampling over at refiner_switch_at, for txt2img
// and img2img; the infotext names it after everything noted before sampling. Its jobs run on their
// own; an unknown name is refused naming the field, and the worker goes on.
BOOST_AUTO_TEST_CASE(a_refiner_takes_over_partway) {
  const auto refined = [](double at, const std::string& name = "other") {
    return std::string(R"({"prompt":"a lighthouse","steps":4,"width":64,"height":64,"sampler_name":"Euler","seed":5,)") +
           R"("refiner_checkpoint":")" + name + R"(","refiner_switch_at":)" + std::to_string(at) + "}";
  };
  const generated plain = generate(R"({"prompt":"a lighthouse","steps":4,"width":64,"height":64,"sampler_name":"Euler","seed":5})");
  const generated half = generate(refined(0.5));
  BOOST_TEST(!same_image(plain.pixels, half.pixels));
  BOOST_TEST(has(half.infotext, "Model: tiny,"), half.infotext);
  // The title is the stem and, once the file is hashed, its short hash.
  BOOST_TEST(has(half.infotext, "Model: tiny, Refiner: other"), half.infotext);
  BOOST_TEST(has(half.infotext, ", Refiner switch at: 0.5, Version: "), half.infotext);
  // Never reached: the job's own image, no Refiner entry.
  const generated never = generate(refined(1.0));
  BOOST_TEST(never.pixels == plain.pixels);
  BOOST_TEST(!has(never.infotext, "Refiner"), never.infotext);
  // "None" names no refiner.
  const generated none = generate(refined(0.5, "None"));
  BOOST_TEST(none.pixels == plain.pixels);

  std::vector<std::future<generated>> answers;
  for (int i = 0; i < 4; ++i) {
    answers.push_back(std::async(std::launch::async, generate,
                                 i % 2 == 0 ? refined(0.5)
                                            : std::string(R"({"prompt":"a lighthouse","steps":4,"width":64,"height":64,)"
                                                          R"("sampler_name":"Euler","seed":5})")));
  }
  for (int i = 0; i < 4; ++i) {
    const generated g = answers[static_cast<size_t>(i)].get();
    BOOST_TEST(same_image(g.pixels, i % 2 == 0 ? half.pixels : plain.pixels), "job " << i);
  }

  // img2img: the same switch inside its shortened run.
  const std::string init = sdw::test::write_init_png((server().server.dir().dir / "init.png").string(), 64, 64, 3);
  const auto img2img = [&](const std::string& refiner) {
    const auto r = call("POST", "/sdapi/v1/img2img",
                        R"({"init_images":[")" + init + R"("],"prompt":"a lighthouse","steps":4,"width":64,"height":64,)"
                        R"("sampler_name":"Euler","seed":5,"denoising_strength":0.75)" + refiner + "}");
    BOOST_TEST_REQUIRE(r.status == 200, r.body.substr(0, 400));
    return images_of(r).at(0);
  };
  const auto img_plain = img2img("");
  const auto img_refined = img2img(R"(,"refiner_checkpoint":"other","refiner_switch_at":0.5)");
  BOOST_TEST(!same_image(img_plain.pixels, img_refined.pixels));
  BOOST_TEST(has(img_refined.text.at("parameters"), "Denoising strength: 0.75, Refiner: other"),
             img_refined.text.at("parameters"));

  const auto unknown = call("POST", "/sdapi/v1/txt2img", refined(0.5, "nowhere"));
  BOOST_TEST(unknown.status == 422, unknown.body.substr(0, 300));
  BOOST_TEST(has(unknown.body, "refiner_checkpoint"), unknown.body);
  BOOST_TEST(server().server.call("GET", "/health").status == 200);
}
