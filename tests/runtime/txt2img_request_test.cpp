#define BOOST_TEST_MODULE txt2img_request
#include <boost/test/unit_test.hpp>

#include "runtime/base/errors.hpp"
#include "runtime/base/encoding.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/base/png_codec.hpp"
#include "runtime/formats/txt2img_request.hpp"

#include <algorithm>
#include <cmath>

using namespace sdw;

namespace {

// The field and message of the error a body raises.
std::pair<std::string, std::string> failure(const std::string& body) {
  try {
    parse_txt2img_request(body);
  } catch (const error& e) {
    BOOST_TEST(static_cast<int>(e.code()) == static_cast<int>(errc::bad_request));
    return {e.where(), e.message()};
  }
  BOOST_FAIL("no error for " + body);
  return {};
}

} // namespace

BOOST_AUTO_TEST_CASE(empty_body_gets_a1111_defaults) {
  const txt2img_request r = parse_txt2img_request("{}");
  BOOST_TEST(r.effective_sampler_name() == "Euler");
  BOOST_TEST(!r.sampler_name.has_value());
  BOOST_TEST(r.steps == 50);
  BOOST_TEST(r.width == 512);
  BOOST_TEST(r.height == 512);
  BOOST_TEST(r.cfg_scale == 7.0);
  BOOST_TEST(r.seed == -1);
  BOOST_TEST(r.subseed == -1);
  BOOST_TEST(r.batch_size == 1);
  BOOST_TEST(r.n_iter == 1);
  BOOST_TEST(r.send_images);
  BOOST_TEST(!r.save_images);
  BOOST_TEST(!r.denoising_strength.has_value());
  BOOST_TEST(r.hr_scale == 2.0);
  BOOST_TEST(r.override_settings_restore_afterwards);
  BOOST_TEST(r.fields_set.empty());
}

BOOST_AUTO_TEST_CASE(lenient_coercions_like_pydantic_v1) {
  const txt2img_request r = parse_txt2img_request(
      R"({"steps": "20", "width": 640.9, "cfg_scale": 7, "seed": " 1_000 ", "restore_faces": "true",
          "tiling": 0, "send_images": "no", "save_images": 1, "prompt": 5, "negative_prompt": 1.5,
          "styles": ["a", 2], "subseed_strength": "0.25", "sampler_name": "DPM++ 2M", "batch_size": true,
          "height": null, "eta": "1e-1", "override_settings": [["CLIP_stop_at_last_layers", 2]], "ignored": [1]})");
  BOOST_TEST(r.steps == 20);
  BOOST_TEST(r.width == 640);
  BOOST_TEST(r.height == 512);
  BOOST_TEST(r.cfg_scale == 7.0);
  BOOST_TEST(r.seed == 1000);
  BOOST_TEST(*r.restore_faces);
  BOOST_TEST(!*r.tiling);
  BOOST_TEST(!r.send_images);
  BOOST_TEST(r.save_images);
  BOOST_TEST(r.prompt == "5");
  BOOST_TEST(r.negative_prompt == "1.5");
  BOOST_TEST((*r.styles == std::vector<std::string>{"a", "2"}));
  BOOST_TEST(r.subseed_strength == 0.25);
  BOOST_TEST(r.effective_sampler_name() == "DPM++ 2M");
  BOOST_TEST(r.batch_size == 1);
  BOOST_TEST(*r.eta == 0.1);
  BOOST_TEST(r.override_settings->at(0).first == "CLIP_stop_at_last_layers");
  BOOST_TEST(r.is_set("height"));
  BOOST_TEST(!r.is_set("ignored"));
  BOOST_TEST(r.fields_set.size() == 17u);
}

BOOST_AUTO_TEST_CASE(bad_types_name_the_field_with_pydantic_messages) {
  using p = std::pair<std::string, std::string>;
  BOOST_TEST((failure(R"({"steps": "twenty"})") == p{"steps", "value is not a valid integer"}));
  BOOST_TEST((failure(R"({"steps": "20.5"})") == p{"steps", "value is not a valid integer"}));
  BOOST_TEST((failure(R"({"seed": [1]})") == p{"seed", "value is not a valid integer"}));
  BOOST_TEST((failure(R"({"cfg_scale": "high"})") == p{"cfg_scale", "value is not a valid float"}));
  BOOST_TEST((failure(R"({"enable_hr": "maybe"})") == p{"enable_hr", "value could not be parsed to a boolean"}));
  BOOST_TEST((failure(R"({"send_images": 2})") == p{"send_images", "value could not be parsed to a boolean"}));
  BOOST_TEST((failure(R"({"prompt": {"a": 1}})") == p{"prompt", "str type expected"}));
  BOOST_TEST((failure(R"({"styles": "anime"})") == p{"styles", "value is not a valid list"}));
  BOOST_TEST((failure(R"({"styles": ["ok", null]})") == p{"styles.1", "str type expected"}));
  BOOST_TEST((failure(R"({"override_settings": 3})") == p{"override_settings", "value is not a valid dict"}));
  BOOST_TEST((failure(R"({"alwayson_scripts": "x"})") == p{"alwayson_scripts", "value is not a valid dict"}));
  BOOST_TEST((failure(R"({"script_args": {}})") == p{"script_args", "value is not a valid list"}));
  BOOST_TEST((failure(R"([1, 2])") == p{"body", "value is not a valid dict"}));
  BOOST_TEST((failure("") == p{"body", "field required"}));
  BOOST_TEST((failure(R"({"steps": 20,})") ==
              p{"body", "Expecting property name enclosed in double quotes: line 1 column 14 (char 13)"}));
}

BOOST_AUTO_TEST_CASE(range_checks_have_clear_messages) {
  using p = std::pair<std::string, std::string>;
  BOOST_TEST((failure(R"({"width": 500})") == p{"width", "must be a multiple of 8 from 64 to 2048, got 500"}));
  BOOST_TEST((failure(R"({"height": 4096})") == p{"height", "must be a multiple of 8 from 64 to 2048, got 4096"}));
  BOOST_TEST((failure(R"({"steps": 0})") == p{"steps", "must be from 1 to 150, got 0"}));
  BOOST_TEST((failure(R"({"steps": 151})") == p{"steps", "must be from 1 to 150, got 151"}));
  BOOST_TEST((failure(R"({"batch_size": 65})") == p{"batch_size", "must be from 1 to 64, got 65"}));
  BOOST_TEST((failure(R"({"n_iter": 0})") == p{"n_iter", "must be from 1 to 100, got 0"}));
  BOOST_TEST((failure(R"({"cfg_scale": "nan"})") == p{"cfg_scale", "must be a finite number"}));
  BOOST_TEST((failure(R"({"steps": 1e12})") == p{"steps", "must be from 1 to 150, got 1000000000000"}));
  BOOST_TEST((failure(R"({"width": "-8"})") == p{"width", "must be a multiple of 8 from 64 to 2048, got -8"}));
  BOOST_TEST((failure(R"({"hr_resize_x": 1e12})") == p{"hr_resize_x", "must be from 0 to 2048, got 1000000000000"}));
  const std::string long_prompt(20001, 'a');
  BOOST_TEST(failure(R"({"prompt": ")" + long_prompt + "\"}").first == "prompt");
  // 20000 two-byte characters are within the limit: characters, not bytes, count.
  std::string wide;
  for (int i = 0; i < 20000; ++i) wide += "\xc3\xa9";
  BOOST_TEST(parse_txt2img_request(R"({"prompt": ")" + wide + "\"}").prompt.size() == 40000u);
}

BOOST_AUTO_TEST_CASE(every_numeric_field_has_a_range) {
  using p = std::pair<std::string, std::string>;
  // Seed resize: 0 or less turns it off (as in A1111); a positive side follows the image side rule.
  const auto off = parse_txt2img_request(R"({"seed_resize_from_h": 0, "seed_resize_from_w": -7})");
  BOOST_TEST(off.seed_resize_from_h == 0);
  BOOST_TEST(off.seed_resize_from_w == -7);
  const auto on = parse_txt2img_request(R"({"seed_resize_from_h": 2048, "seed_resize_from_w": "64"})");
  BOOST_TEST(on.seed_resize_from_h == 2048);
  BOOST_TEST(on.seed_resize_from_w == 64);
  const std::string side_rule = "must be 0 or less (no seed resize) or a multiple of 8 from 64 to 2048, got ";
  BOOST_TEST((failure(R"({"seed_resize_from_h": 2000000000})") == p{"seed_resize_from_h", side_rule + "2000000000"}));
  BOOST_TEST((failure(R"({"seed_resize_from_w": 1e15})") == p{"seed_resize_from_w", side_rule + "1000000000000000"}));
  BOOST_TEST((failure(R"({"seed_resize_from_w": 2056})") == p{"seed_resize_from_w", side_rule + "2056"}));
  BOOST_TEST((failure(R"({"seed_resize_from_h": 60})") == p{"seed_resize_from_h", side_rule + "60"}));
  BOOST_TEST((failure(R"({"seed_resize_from_h": 100})") == p{"seed_resize_from_h", side_rule + "100"}));
  BOOST_TEST((failure(R"({"seed_resize_from_h": -1e12})") == p{"seed_resize_from_h", side_rule + "-1000000000000"}));

  BOOST_TEST((failure(R"({"cfg_scale": 250})") == p{"cfg_scale", "must be from 0.0 to 100.0, got 250.0"}));
  BOOST_TEST((failure(R"({"cfg_scale": -1})") == p{"cfg_scale", "must be from 0.0 to 100.0, got -1.0"}));
  BOOST_TEST((failure(R"({"cfg_scale": "inf"})") == p{"cfg_scale", "must be a finite number"}));
  BOOST_TEST((failure(R"({"subseed_strength": 1.5})") == p{"subseed_strength", "must be from 0.0 to 1.0, got 1.5"}));
  BOOST_TEST((failure(R"({"eta": -0.1})") == p{"eta", "must be from 0.0 to 1.0, got -0.1"}));
  BOOST_TEST((failure(R"({"denoising_strength": 2})") == p{"denoising_strength", "must be from 0.0 to 1.0, got 2.0"}));
  BOOST_TEST((failure(R"({"s_churn": 1e300})") == p{"s_churn", "must be from 0.0 to 100.0, got 1e+300"}));
  BOOST_TEST((failure(R"({"s_noise": 11})") == p{"s_noise", "must be from 0.0 to 10.0, got 11.0"}));
  BOOST_TEST((failure(R"({"s_tmin": -1})") == p{"s_tmin", "must be from 0.0 to 1000.0, got -1.0"}));
  BOOST_TEST((failure(R"({"s_tmax": "nan"})") == p{"s_tmax", "must be a finite number"}));
  BOOST_TEST((failure(R"({"s_min_uncond": 101})") == p{"s_min_uncond", "must be from 0.0 to 100.0, got 101.0"}));
  BOOST_TEST((failure(R"({"hr_scale": 9})") == p{"hr_scale", "must be from 0.0 to 8.0, got 9.0"}));
  BOOST_TEST((failure(R"({"refiner_switch_at": 1.01})") == p{"refiner_switch_at", "must be from 0.0 to 1.0, got 1.01"}));
  BOOST_TEST((failure(R"({"hr_second_pass_steps": 151})") == p{"hr_second_pass_steps", "must be from 0 to 150, got 151"}));
  BOOST_TEST((failure(R"({"firstphase_width": -8})") == p{"firstphase_width", "must be from 0 to 2048, got -8"}));
  BOOST_TEST((failure(R"({"hr_resize_y": 4096})") == p{"hr_resize_y", "must be from 0 to 2048, got 4096"}));
  // The ends of each range are in it; s_tmax may be infinite.
  const auto edges = parse_txt2img_request(
    R"({"cfg_scale": 100, "subseed_strength": 1, "eta": 0, "s_churn": 100, "s_tmax": "inf", "s_noise": 10,)"
    R"( "hr_scale": 8, "hr_resize_x": 2048, "hr_second_pass_steps": 150, "denoising_strength": 1})");
  BOOST_TEST(edges.cfg_scale == 100.0);
  BOOST_TEST(std::isinf(*edges.s_tmax));
}

BOOST_AUTO_TEST_CASE(the_work_of_a_request_is_capped) {
  const auto r = parse_txt2img_request(R"({"width": 512, "height": 512, "batch_size": 64, "n_iter": 100, "steps": 150})");
  BOOST_TEST(request_megapixel_steps(r) == 512.0 * 512 * 64 * 100 * 150 / 1e6);
  check_request_work(r, 3e6);
  try {
    check_request_work(r, 10000);
    BOOST_FAIL("accepted");
  } catch (const error& e) {
    BOOST_TEST(e.code() == errc::bad_request);
    BOOST_TEST(e.where() == "");
    BOOST_TEST(e.message() == "too much work for one request: width 512 x height 512 x batch_size 64 x n_iter 100 x "
                              "steps 150 = 251659 megapixel-steps, more than this worker's limit of 10000; ask for "
                              "fewer or smaller images or fewer steps");
  }
  // The A1111 defaults (one 512x512 image, 50 steps) are far below the default limit.
  check_request_work(parse_txt2img_request("{}"), 10000);
}

BOOST_AUTO_TEST_CASE(endpoints_name_routes_with_or_without_the_prefix) {
  for (const char* e : {"/sdapi/v1/options", "sdapi/v1/options", "options", "/options", "Options/", "//sdapi/v1/options/"}) {
    BOOST_TEST(a1111_call_path(e) == "/sdapi/v1/options", e);
  }
  BOOST_TEST(a1111_call_path("sdapi/v2/x") == "/sdapi/v2/x");
  BOOST_TEST(a1111_call_path("") == "/sdapi/v1/");
}

BOOST_AUTO_TEST_CASE(runpod_wrapper_forms) {
  const auto plain = parse_txt2img_request(R"({"id": "job-1", "input": {"prompt": "a cat", "steps": 20}})");
  BOOST_TEST(plain.prompt == "a cat");
  BOOST_TEST(plain.steps == 20);
  const auto api = parse_txt2img_request(
      R"({"input": {"api": {"method": "POST", "endpoint": "/sdapi/v1/txt2img"}, "payload": {"prompt": "a dog", "seed": 7}}})");
  BOOST_TEST(api.prompt == "a dog");
  BOOST_TEST(api.seed == 7);
  const auto call = unwrap_a1111_call(parse_json(R"({"input": {"api": {"method": "get", "endpoint": "sdapi/v1/options"}}})"));
  BOOST_TEST(call.method == "GET");
  BOOST_TEST(call.endpoint == "/sdapi/v1/options");
  BOOST_TEST(call.payload.is_object());

  using p = std::pair<std::string, std::string>;
  try {
    parse_txt2img_request(R"({"input": {"api": {"method": "POST", "endpoint": "/sdapi/v1/extra-single-image"}}})");
    BOOST_ERROR("an extras call parsed as a generation request");
  } catch (const error& e) {
    BOOST_TEST(static_cast<int>(e.code()) == static_cast<int>(errc::unsupported));
    BOOST_TEST(e.where() == "input.api.endpoint");
  }
  BOOST_TEST((failure(R"({"input": "a cat"})") == p{"input", "value is not a valid dict"}));
  BOOST_TEST((failure(R"({"input": {"api": {"method": "POST"}, "payload": {}}})") == p{"input.api.endpoint", "field required"}));
  BOOST_TEST((failure(R"({"input": {"api": {"endpoint": "/sdapi/v1/txt2img"}, "payload": []}})") ==
              p{"input.payload", "value is not a valid dict"}));
  BOOST_TEST((failure(R"({"input": {"steps": "x"}})") == p{"steps", "value is not a valid integer"}));
}

BOOST_AUTO_TEST_CASE(parameters_echo_in_model_order) {
  const auto r = parse_txt2img_request(R"({"steps": "20", "prompt": "a cat", "override_settings": {"CLIP_stop_at_last_layers": 2}})");
  const json_value echo = to_parameters_json(r);
  const auto& o = echo.as_object();
  BOOST_TEST(o.size() == 55u);
  BOOST_TEST(o.front().first == "prompt");
  BOOST_TEST(o.back().first == "infotext");
  const std::string text = to_json(echo);
  BOOST_TEST(text.rfind(R"({"prompt":"a cat","negative_prompt":"","styles":null,"seed":-1,"subseed":-1,)"
                        R"("subseed_strength":0,"seed_resize_from_h":-1,"seed_resize_from_w":-1,"sampler_name":null,)"
                        R"("scheduler":null,"batch_size":1,"n_iter":1,"steps":20,"cfg_scale":7.0,"width":512,)"
                        R"("height":512,"restore_faces":null,"tiling":null,"do_not_save_samples":false,)",
                        0) == 0u);
  BOOST_TEST(text.find(R"("override_settings":{"CLIP_stop_at_last_layers":2},"override_settings_restore_afterwards":true,)") !=
             std::string::npos);
  BOOST_TEST(text.find(R"("sampler_index":"Euler","script_name":null,"script_args":[],"send_images":true,)"
                       R"("save_images":false,"alwayson_scripts":{},"infotext":null})") != std::string::npos);
  // A given subseed_strength is a float, as pydantic makes it.
  const auto given = to_parameters_json(parse_txt2img_request(R"({"subseed_strength": 0})"));
  BOOST_TEST(to_json(*given.find("subseed_strength")) == "0.0");
}

BOOST_AUTO_TEST_CASE(every_truncation_of_a_body_is_a_body_error) {
  const std::string body = R"({"prompt": "a \"cat\" \u00e9", "steps": [1, {"x": null}], "cfg_scale": -1.5e3})";
  // An empty body is "field required" (tested above); every other prefix is malformed JSON.
  for (std::size_t n = 1; n < body.size(); ++n) {
    try {
      parse_txt2img_request(body.substr(0, n));
      BOOST_FAIL("truncated body accepted: " + body.substr(0, n));
    } catch (const error& e) {
      BOOST_TEST(e.where() == "body");
      BOOST_TEST(e.message().find("(char ") != std::string::npos);
    }
  }
}

namespace {

std::string png_b64(int w, int h, std::uint8_t value) {
  const std::vector<std::uint8_t> rgb(static_cast<std::size_t>(w) * h * 3, value);
  return base64_encode(encode_png(rgb.data(), w, h, {}));
}

std::pair<errc, std::string> img2img_failure(const std::string& body) {
  try {
    txt2img_request_from_json(parse_json(body), request_kind::img2img);
  } catch (const error& e) {
    return {e.code(), e.where() + ": " + e.message()};
  }
  BOOST_FAIL("no error for " + body.substr(0, 80));
  return {};
}

} // namespace

BOOST_AUTO_TEST_CASE(img2img_bodies_as_a1111_reads_them) {
  const std::string one = png_b64(24, 16, 200);
  const auto r = txt2img_request_from_json(
      parse_json(R"({"init_images": ["data:image/png;base64,)" + one + R"("], "resize_mode": "1", "steps": 10})"),
      request_kind::img2img);
  BOOST_TEST(static_cast<int>(r.kind) == static_cast<int>(request_kind::img2img));
  BOOST_REQUIRE_EQUAL(r.init_images.size(), 1u);
  BOOST_TEST(r.init_images[0].width == 24);
  BOOST_TEST(r.init_images[0].height == 16);
  BOOST_TEST(r.resize_mode == 1);

  // The echo: A1111's img2img model order, denoising_strength 0.75, images dropped unless asked for.
  const json_value params = to_parameters_json(r);
  const auto& fields = params.as_object();
  std::vector<std::string> names;
  for (const auto& [k, v] : fields) names.push_back(k);
  const auto at = [&](const std::string& k) { return std::find(names.begin(), names.end(), k) - names.begin(); };
  BOOST_TEST(at("comments") < at("init_images"));
  BOOST_TEST(at("init_images") < at("resize_mode"));
  BOOST_TEST(at("latent_mask") < at("force_task_id"));
  BOOST_TEST(at("sampler_index") < at("include_init_images"));
  BOOST_TEST(at("include_init_images") < at("script_name"));
  BOOST_TEST(at("enable_hr") == static_cast<long>(names.size()));  // txt2img-only fields are absent
  BOOST_TEST(params.find("init_images")->is_null());
  BOOST_TEST(params.find("denoising_strength")->as_double() == 0.75);
  BOOST_TEST(params.find("inpaint_full_res")->as_bool() == true);
  BOOST_TEST(params.find("mask_blur_x")->as_int() == 4);

  const auto kept = txt2img_request_from_json(
      parse_json(R"({"init_images": [")" + one + R"("], "include_init_images": true, "mask_blur": 2})"),
      request_kind::img2img);
  BOOST_TEST(to_parameters_json(kept).find("init_images")->as_array().at(0).as_string() == one);
  BOOST_TEST(kept.mask_blur_x == 2);
  BOOST_TEST(kept.mask_blur_y == 2);

  // Several images are the batch when batch_size allows them.
  const auto two = txt2img_request_from_json(
      parse_json(R"({"init_images": [")" + one + R"(", ")" + png_b64(8, 8, 3) + R"("], "batch_size": 2})"),
      request_kind::img2img);
  BOOST_TEST(two.init_images.size() == 2u);

  // txt2img's own fields are unknown keys to img2img, and img2img's to txt2img.
  BOOST_TEST(!txt2img_request_from_json(parse_json(R"({"init_images": [")" + one + R"("], "enable_hr": true})"),
                                        request_kind::img2img)
                  .enable_hr);
  BOOST_TEST(txt2img_request_from_json(parse_json(R"({"init_images": ["x"]})"), request_kind::txt2img).init_images.empty());
}

BOOST_AUTO_TEST_CASE(bad_img2img_bodies_name_the_field) {
  const std::string one = png_b64(8, 8, 1);
  BOOST_TEST((img2img_failure("{}") == std::pair<errc, std::string>{errc::not_found, "init_images: Init image not found"}));
  BOOST_TEST(img2img_failure(R"({"init_images": []})").second.find("init_images: at least one") == 0);
  const auto too_many = img2img_failure(R"({"init_images": [")" + one + R"(", ")" + one + R"("]})");
  BOOST_TEST(too_many.second == "init_images: bad number of images passed: 2; expecting 1 or less");
  const auto broken = img2img_failure(R"({"init_images": [")" + one + R"(", "AAAA"], "batch_size": 2})");
  BOOST_TEST(static_cast<int>(broken.first) == static_cast<int>(errc::bad_request));
  BOOST_TEST(broken.second.find("init_images.1: ") == 0, broken.second);
  BOOST_TEST(img2img_failure(R"({"init_images": [")" + one + R"("], "resize_mode": 4})").second.find("resize_mode") == 0);
  BOOST_TEST(img2img_failure(R"({"init_images": [")" + one + R"("], "denoising_strength": 1.5})").second.find(
                 "denoising_strength") == 0);
  BOOST_TEST(img2img_failure(R"({"init_images": 5})").second == "init_images: value is not a valid list");
  const auto masked = img2img_failure(R"({"init_images": [")" + one + R"("], "mask": "AAAA"})");
  BOOST_TEST(static_cast<int>(masked.first) == static_cast<int>(errc::bad_request));
  BOOST_TEST(masked.second.find("mask: ") == 0, masked.second);
  // mask_blur sets mask_blur_x and _y, so it has their range (a mask_blur of 256 was taken, and
  // the parameters echo it gave back was refused; found by fuzzing).
  for (const char* blur : {"256", "-1", "2147483647"}) {
    BOOST_TEST(img2img_failure(R"({"init_images": [")" + one + R"("], "mask_blur": )" + blur + "}").second ==
               std::string("mask_blur: must be from 0 to 64, got ") + blur);
  }
  BOOST_TEST(img2img_failure(R"({"init_images": [")" + one + R"("], "mask_blur_x": 65})").second ==
             "mask_blur_x: must be from 0 to 64, got 65");
  // A mask is decoded as init images are; an empty one means none, as A1111's `if mask`.
  const auto with_mask = txt2img_request_from_json(
    parse_json(R"({"init_images": [")" + one + R"("], "mask": ")" + png_b64(24, 16, 255) + R"("})"),
    request_kind::img2img);
  BOOST_TEST_REQUIRE(with_mask.mask_image.has_value());
  BOOST_TEST(with_mask.mask_image->width == 24);
  BOOST_TEST(!txt2img_request_from_json(parse_json(R"({"init_images": [")" + one + R"("], "mask": ""})"),
                                        request_kind::img2img)
                .mask_image.has_value());
}
