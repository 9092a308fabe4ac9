#define BOOST_TEST_MODULE api_img2img
#include <boost/test/unit_test.hpp>

#define _TURN_OFF_PLATFORM_STRING
#include "runtime/base/encoding.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/base/png_codec.hpp"
#include "tests/support/api_server.hpp"

using sdw::json_value;
using sdw::test::member;

namespace {

sdw::test::shared_server& start_server() { return sdw::test::checked_shared_api_server({}); }

sdw::test::http_reply call(const std::string& method, const std::string& path, const std::string& body) {
  return start_server().server.call(method, path, body);
}

/// A 48×80 PNG with a gradient, base64 (what clients send as init_images).
std::string init_png() {
  std::vector<std::uint8_t> rgb(48 * 80 * 3);
  for (int y = 0; y < 80; ++y)
    for (int x = 0; x < 48; ++x)
      for (int c = 0; c < 3; ++c) rgb[(y * 48 + x) * 3 + c] = static_cast<std::uint8_t>((x * 5 + y * 3 + c * 70) % 256);
  return sdw::base64_encode(sdw::encode_png(rgb.data(), 48, 80, {}));
}

std::string body(const std::string& extra = "") {
  return R"({"init_images":[")" + init_png() + R"("],"prompt":"a blue door","steps":4,"width":64,"height":96,)" +
         R"("seed":21,"sampler_name":"Euler","resize_mode":1)" + extra + "}";
}

} // namespace

BOOST_AUTO_TEST_CASE(img2img_returns_images_of_the_requested_size_with_its_infotext) {
  const auto r = call("POST", "/sdapi/v1/img2img", body(R"(,"batch_size":2,"denoising_strength":0.6)"));
  BOOST_TEST_REQUIRE(r.status == 200, r.body.substr(0, 500));
  const auto images = sdw::test::images_of(r);
  BOOST_TEST_REQUIRE(images.size() == 2u);
  for (size_t i = 0; i < 2; ++i) {
    BOOST_TEST(images[i].width == 64);
    BOOST_TEST(images[i].height == 96);
    const std::string& info = images[i].text.at("parameters");
    BOOST_TEST(info.find("Seed: " + std::to_string(21 + i) + ",") != std::string::npos, info);
    BOOST_TEST(info.find("Denoising strength: 0.6") != std::string::npos, info);
  }
  const auto& params = member(r.json, "parameters");
  BOOST_TEST(member(params, "init_images").is_null());
  BOOST_TEST(member(params, "resize_mode").as_int() == 1);
  BOOST_TEST(params.find("enable_hr") == nullptr);
  const json_value info = sdw::parse_json(member(r.json, "info").as_string());
  BOOST_TEST(member(info, "denoising_strength").as_double() == 0.6);
}

BOOST_AUTO_TEST_CASE(the_same_request_gives_the_same_image_and_strength_changes_it) {
  const auto a = call("POST", "/sdapi/v1/img2img", body());
  const auto b = call("POST", "/sdapi/v1/img2img", body());
  const auto c = call("POST", "/sdapi/v1/img2img", body(R"(,"denoising_strength":0.3)"));
  BOOST_TEST_REQUIRE(a.status == 200);
  BOOST_TEST_REQUIRE(b.status == 200);
  BOOST_TEST_REQUIRE(c.status == 200);
  BOOST_TEST((sdw::test::images_of(a)[0].pixels == sdw::test::images_of(b)[0].pixels));
  BOOST_TEST((sdw::test::images_of(a)[0].pixels != sdw::test::images_of(c)[0].pixels));
}

BOOST_AUTO_TEST_CASE(include_init_images_echoes_them) {
  const auto r = call("POST", "/sdapi/v1/img2img", body(R"(,"include_init_images":true,"steps":1)"));
  BOOST_TEST_REQUIRE(r.status == 200, r.body.substr(0, 300));
  BOOST_TEST(member(member(r.json, "parameters"), "init_images").as_array().at(0).as_string() == init_png());
}

// Inpainting over HTTP: with the whole picture processed and no blur, every pixel outside the mask
// is the original's, and the painted half changes.
BOOST_AUTO_TEST_CASE(inpainting_keeps_the_original_outside_the_mask) {
  std::vector<std::uint8_t> rgb(64 * 96 * 3), mask(64 * 96 * 3, 0);
  for (int y = 0; y < 96; ++y)
    for (int x = 0; x < 64; ++x)
      for (int c = 0; c < 3; ++c) {
        rgb[(y * 64 + x) * 3 + c] = static_cast<std::uint8_t>((x * 3 + y * 2 + c * 60) % 256);
        mask[(y * 64 + x) * 3 + c] = x < 32 ? 255 : 0;
      }
  const std::string picture = sdw::base64_encode(sdw::encode_png(rgb.data(), 64, 96, {}));
  const std::string request = R"({"init_images":[")" + picture + R"("],"mask":")" +
                              sdw::base64_encode(sdw::encode_png(mask.data(), 64, 96, {})) +
                              R"(","prompt":"a blue door","steps":3,"width":64,"height":96,"seed":5,"mask_blur":0,)"
                              R"("inpaint_full_res":false,"denoising_strength":0.9})";
  const auto r = call("POST", "/sdapi/v1/img2img", request);
  BOOST_TEST_REQUIRE(r.status == 200, r.body.substr(0, 500));
  const auto images = sdw::test::images_of(r);
  BOOST_TEST_REQUIRE(images.size() == 1u);
  BOOST_TEST_REQUIRE(images[0].width == 64);
  int outside_changed = 0, inside_changed = 0;
  for (std::size_t i = 0; i < rgb.size(); ++i) {
    const bool changed = images[0].pixels[i] != rgb[i];
    (mask[i] ? inside_changed : outside_changed) += changed;
  }
  BOOST_TEST(outside_changed == 0);
  BOOST_TEST(inside_changed > 1000);
  const std::string& info = images[0].text.at("parameters");
  BOOST_TEST(info.find("Masked content: fill") != std::string::npos, info);
}

// return_mask and return_mask_composite: after each image the mask (RGB), then the generated pixels
// inside the mask on a transparent canvas (RGBA), neither with an infotext; as A1111's processing.py.
BOOST_AUTO_TEST_CASE(inpainting_returns_the_mask_and_its_composite_after_each_image) {
  std::vector<std::uint8_t> rgb(64 * 96 * 3), mask(64 * 96 * 3, 0);
  for (int y = 0; y < 96; ++y)
    for (int x = 0; x < 64; ++x)
      for (int c = 0; c < 3; ++c) {
        rgb[(y * 64 + x) * 3 + c] = static_cast<std::uint8_t>((x * 5 + y + c * 40) % 256);
        mask[(y * 64 + x) * 3 + c] = y < 40 ? 255 : 0;
      }
  const std::string request = R"({"init_images":[")" + sdw::base64_encode(sdw::encode_png(rgb.data(), 64, 96, {})) +
                              R"("],"mask":")" + sdw::base64_encode(sdw::encode_png(mask.data(), 64, 96, {})) +
                              R"(","prompt":"a red window","steps":2,"width":64,"height":96,"seed":6,"mask_blur":0,)"
                              R"("batch_size":2,"inpaint_full_res":false,"denoising_strength":0.8,)"
                              R"("override_settings":{"return_mask":true,"return_mask_composite":true}})";
  const auto r = call("POST", "/sdapi/v1/img2img", request);
  BOOST_TEST_REQUIRE(r.status == 200, r.body.substr(0, 500));
  const auto images = sdw::test::images_of(r);
  BOOST_TEST_REQUIRE(images.size() == 6u);
  const auto info = sdw::parse_json(sdw::test::member(r.json, "info").as_string());
  BOOST_TEST(sdw::test::member(info, "infotexts").as_array().size() == 2u);
  for (int k = 0; k < 2; ++k) {
    const auto& image = images[static_cast<std::size_t>(3 * k)];
    const auto& m = images[static_cast<std::size_t>(3 * k + 1)];
    const auto& composite = images[static_cast<std::size_t>(3 * k + 2)];
    BOOST_TEST(image.text.count("parameters") == 1u);
    BOOST_TEST(m.text.count("parameters") == 0u);
    BOOST_TEST(composite.text.count("parameters") == 0u);
    BOOST_TEST_REQUIRE(m.channels == 3);
    BOOST_TEST(m.pixels == mask);
    BOOST_TEST_REQUIRE(composite.channels == 4);
    BOOST_TEST_REQUIRE(composite.width == 64);
    int wrong = 0;
    for (std::size_t i = 0; i < 64u * 96u; ++i) {
      const std::uint8_t alpha = composite.pixels[i * 4 + 3];
      wrong += alpha != mask[i * 3];
      for (int c = 0; c < 3; ++c) {
        // Inside the mask the answer is the generated image; outside the composite is empty.
        const std::uint8_t want = alpha == 255 ? image.pixels[i * 3 + c] : 0;
        wrong += composite.pixels[i * 4 + c] != want;
      }
    }
    BOOST_TEST(wrong == 0);
  }
}

BOOST_AUTO_TEST_CASE(bad_img2img_requests_are_refused_naming_the_field) {
  const auto missing = call("POST", "/sdapi/v1/img2img", R"({"prompt":"x"})");
  BOOST_TEST(missing.status == 404);
  BOOST_TEST(member(missing.json, "detail").as_string() == "Init image not found");

  const auto broken = call("POST", "/sdapi/v1/img2img", R"({"init_images":["bm90IGFuIGltYWdl"]})");
  BOOST_TEST(broken.status == 422);
  BOOST_TEST(broken.body.find("init_images") != std::string::npos, broken.body);
  BOOST_TEST(broken.body.find("not a PNG, JPEG or WebP") != std::string::npos, broken.body);

  const auto many = call("POST", "/sdapi/v1/img2img",
                         R"({"init_images":[")" + init_png() + R"(",")" + init_png() + R"("],"batch_size":1})");
  BOOST_TEST(many.status == 422);
  BOOST_TEST(many.body.find("bad number of images passed: 2; expecting 1 or less") != std::string::npos, many.body);

  const auto mode = call("POST", "/sdapi/v1/img2img", body(R"(,"resize_mode":7)"));
  BOOST_TEST(mode.status == 422);
  BOOST_TEST(mode.body.find("resize_mode") != std::string::npos);

  const auto bad_mask = call("POST", "/sdapi/v1/img2img", body(R"(,"mask":"bm90IGFuIGltYWdl")"));
  BOOST_TEST(bad_mask.status == 422);
  BOOST_TEST(bad_mask.body.find("mask") != std::string::npos, bad_mask.body);

  // The worker goes on.
  BOOST_TEST(call("POST", "/sdapi/v1/img2img", body(R"(,"steps":1)")).status == 200);
}

BOOST_AUTO_TEST_CASE(runpod_jobs_name_the_img2img_call) {
  const std::string job = R"({"input":{"api":{"method":"POST","endpoint":"/sdapi/v1/img2img"},"payload":)" + body() + "}}";
  const auto r = call("POST", "/runsync", job);
  BOOST_TEST_REQUIRE(r.status == 200, r.body.substr(0, 300));
  BOOST_TEST(member(r.json, "status").as_string() == "COMPLETED", r.body.substr(0, 300));
  const auto& out = member(r.json, "output");
  BOOST_TEST(member(out, "images").as_array().size() == 1u);
  BOOST_TEST(member(member(out, "parameters"), "resize_mode").as_int() == 1);

  const auto bad = call("POST", "/runsync",
                        R"({"input":{"api":{"method":"POST","endpoint":"/sdapi/v1/img2img"},"payload":{"steps":3}}})");
  BOOST_TEST(member(bad.json, "status").as_string() == "FAILED");
  BOOST_TEST(member(bad.json, "error").as_string().find("Init image not found") != std::string::npos, bad.body);
}
