#define BOOST_TEST_MODULE a1111_response
#include <boost/test/unit_test.hpp>

#include "runtime/formats/a1111_response.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/formats/txt2img_request.hpp"

using namespace sdw;

namespace {

processed_info cat_job() {
  processed_info p;
  p.all_prompts = {"a cat \xc3\xa9"};
  p.all_negative_prompts = {""};
  p.all_seeds = {1};
  p.all_subseeds = {3366235};
  p.seed = 1;
  p.subseed = 3366235;
  p.width = 512;
  p.height = 512;
  p.sampler_name = "Euler";
  p.cfg_scale = 7.0;
  p.steps = 20;
  p.sd_model_name = "v1-5-pruned-emaonly";
  p.sd_model_hash = "6ce0161689";
  p.extra_generation_params.emplace_back("Eta", json_value(0.0));
  p.infotexts = {"a cat \xc3\xa9\nSteps: 20"};
  p.job_timestamp = "20260127030000";
  p.version = "v1.9.4";
  return p;
}

} // namespace

BOOST_AUTO_TEST_CASE(info_json_key_order_and_python_style) {
  const std::string info = make_info_json(cat_job());
  BOOST_TEST(info ==
             R"({"prompt": "a cat \u00e9", "all_prompts": ["a cat \u00e9"], "negative_prompt": "", )"
             R"("all_negative_prompts": [""], "seed": 1, "all_seeds": [1], "subseed": 3366235, "all_subseeds": [3366235], )"
             R"("subseed_strength": 0, "width": 512, "height": 512, "sampler_name": "Euler", "cfg_scale": 7.0, )"
             R"("steps": 20, "batch_size": 1, "restore_faces": false, "face_restoration_model": null, )"
             R"("sd_model_name": "v1-5-pruned-emaonly", "sd_model_hash": "6ce0161689", "sd_vae_name": null, )"
             R"("sd_vae_hash": null, "seed_resize_from_w": -1, "seed_resize_from_h": -1, "denoising_strength": null, )"
             R"("extra_generation_params": {"Eta": 0.0}, "index_of_first_image": 0, )"
             R"("infotexts": ["a cat \u00e9\nSteps: 20"], "styles": [], "job_timestamp": "20260127030000", )"
             R"("clip_skip": 1, "is_using_inpainting_conditioning": false, "version": "v1.9.4"})");
}

BOOST_AUTO_TEST_CASE(response_body_is_compact_and_parses_back) {
  const std::string info = make_info_json(cat_job());
  const json_value params = to_parameters_json(parse_txt2img_request(R"({"prompt": "a cat"})"));
  const std::string body = make_txt2img_response({"iVBORw0KGgo=", "AAAA"}, params, info);
  BOOST_TEST(body.rfind(R"({"images":["iVBORw0KGgo=","AAAA"],"parameters":{"prompt":"a cat",)", 0) == 0u);
  const json_value back = parse_json(body);
  BOOST_TEST(back.as_object()[2].first == "info");
  BOOST_TEST(back.find("info")->as_string() == info);
  BOOST_TEST((*back.find("parameters") == params));
  BOOST_TEST(job_timestamp_now().size() == 14u);
}
