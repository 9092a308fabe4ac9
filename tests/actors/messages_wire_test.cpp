#define BOOST_TEST_MODULE messages_wire
#include <boost/test/unit_test.hpp>

// A job crosses to an executor in another process as CAF serializes it: the typed request and its
// options must arrive whole, or the remote image differs from the local one.

#include "messages/interfaces.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/formats/txt2img_request.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include <string>
#include <vector>

using namespace sdw;

namespace {

struct wire {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> system;

  wire() {
    add_message_types(cfg);
    system = std::make_unique<caf::actor_system>(cfg);
  }

  template <class T>
  T round_trip(T x) {
    std::vector<char> bytes;
    caf::binary_serializer sink{*system, bytes};
    BOOST_TEST_REQUIRE(!sink(x));
    T back;
    caf::binary_deserializer source{*system, bytes};
    BOOST_TEST_REQUIRE(!source(back));
    return back;
  }
};

/// A request that sets many fields away from their defaults, nulls among them.
const char* const body = R"({"prompt":"a (red:1.2) cube, ünïcode","negative_prompt":"blur","styles":["s1","s2"],
  "seed":4294967297,"subseed":7,"subseed_strength":0.25,"seed_resize_from_h":320,"seed_resize_from_w":256,
  "sampler_name":"DPM++ 2M","scheduler":"Karras","batch_size":2,"steps":12,"cfg_scale":5.5,"width":320,
  "height":256,"restore_faces":null,"tiling":false,"eta":0.7,"s_churn":0.1,"s_noise":0.99,"denoising_strength":0.4,
  "override_settings":{"CLIP_stop_at_last_layers":2,"randn_source":"NV","sigma_min":0.03,
    "sd_model_checkpoint":"other.safetensors","eta_noise_seed_delta":31337,"live_previews_enable":false,
    "no_dpmpp_sde_batch_determinism":true},
  "override_settings_restore_afterwards":false,"comments":{"note":[1,2.5,null,true]},
  "hr_prompt":"hr","script_args":[1,"two",{"three":3.0}],"alwayson_scripts":{"Seed":{"args":[0.1]}},
  "send_images":true,"save_images":false,"infotext":"Steps: 3"})";

} // namespace

BOOST_AUTO_TEST_CASE(a_typed_job_crosses_processes_whole) {
  wire w;
  const txt2img_request request = parse_txt2img_request(body);
  const options settings = resolve_options(parse_json(R"({"eta_ancestral":0.5,"sd_vae":"None"})").as_object(),
                                           request.override_settings);
  const generation_job job{"job-1", request, settings, job_options{false}, std::nullopt};
  const generation_job back = w.round_trip(job);

  BOOST_TEST(back.id == "job-1");
  BOOST_TEST(!back.options.keep_result);
  BOOST_TEST(!back.rejected.has_value());
  // Every field as A1111 echoes it, and which of them the body named.
  BOOST_TEST(to_json(to_parameters_json(back.request)) == to_json(to_parameters_json(request)));
  BOOST_TEST(back.request.fields_set == request.fields_set);
  BOOST_TEST(!back.request.restore_faces.has_value());
  BOOST_TEST_REQUIRE(back.request.override_settings.has_value());
  BOOST_TEST(to_json(json_value(*back.request.override_settings)) == to_json(json_value(*request.override_settings)));
  BOOST_TEST_REQUIRE(back.request.comments.has_value());
  BOOST_TEST(to_json(json_value(*back.request.comments)) == R"({"note":[1,2.5,null,true]})");
  // Every engine option the executor reads.
  for (std::string_view key : a1111_option_keys()) {
    BOOST_TEST(to_json(option_value(back.settings, key)) == to_json(option_value(settings, key)), key);
  }
  BOOST_TEST(back.settings.randn_source == "NV");
  BOOST_TEST(back.settings.eta_ancestral == 0.5);
  BOOST_TEST(back.settings.no_dpmpp_sde_batch_determinism);
  BOOST_TEST(back.settings.sd_model_checkpoint.value_or("") == "other.safetensors");
}

BOOST_AUTO_TEST_CASE(a_rejected_job_keeps_its_error) {
  wire w;
  generation_job job{"bad", {}, {}, job_options{true}, job_error{errc::bad_request, "steps", "value is not a valid integer"}};
  const generation_job back = w.round_trip(job);
  BOOST_TEST_REQUIRE(back.rejected.has_value());
  BOOST_TEST(back.rejected->kind == errc::bad_request);
  BOOST_TEST(back.rejected->field == "steps");
  BOOST_TEST(back.rejected->message == "value is not a valid integer");
}
