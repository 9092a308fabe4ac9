#define BOOST_TEST_MODULE a1111_listings
#include <boost/test/unit_test.hpp>

#include "runtime/base/json_value.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/formats/a1111_cmd_flags.hpp"
#include "runtime/formats/a1111_listings.hpp"

#include <set>

using namespace sdw;

namespace {

/// Every dest of A1111 1.9.4's parser in its order: modules/cmd_args.py, then the preload.py of
/// the built-in extensions LDSR, Lora, ScuNET and SwinIR.
const std::vector<std::string> a1111_flags = {
  "f", "update_all_extensions", "skip_python_version_check", "skip_torch_cuda_test", "reinstall_xformers",
  "reinstall_torch", "update_check", "test_server", "log_startup", "skip_prepare_environment", "skip_install",
  "dump_sysinfo", "loglevel", "do_not_download_clip", "data_dir", "models_dir", "config", "ckpt", "ckpt_dir",
  "vae_dir", "gfpgan_dir", "gfpgan_model", "no_half", "no_half_vae", "no_progressbar_hiding", "max_batch_count",
  "embeddings_dir", "textual_inversion_templates_dir", "hypernetwork_dir", "localizations_dir", "allow_code",
  "medvram", "medvram_sdxl", "lowvram", "lowram", "always_batch_cond_uncond", "unload_gfpgan", "precision",
  "upcast_sampling", "share", "ngrok", "ngrok_region", "ngrok_options", "enable_insecure_extension_access",
  "codeformer_models_path", "gfpgan_models_path", "esrgan_models_path", "bsrgan_models_path",
  "realesrgan_models_path", "dat_models_path", "clip_models_path", "xformers", "force_enable_xformers",
  "xformers_flash_attention", "deepdanbooru", "opt_split_attention", "opt_sub_quad_attention",
  "sub_quad_q_chunk_size", "sub_quad_kv_chunk_size", "sub_quad_chunk_threshold", "opt_split_attention_invokeai",
  "opt_split_attention_v1", "opt_sdp_attention", "opt_sdp_no_mem_attention", "disable_opt_split_attention",
  "disable_nan_check", "use_cpu", "use_ipex", "disable_model_loading_ram_optimization", "listen", "port",
  "show_negative_prompt", "ui_config_file", "hide_ui_dir_config", "freeze_settings", "freeze_settings_in_sections",
  "freeze_specific_settings", "ui_settings_file", "gradio_debug", "gradio_auth", "gradio_auth_path",
  "gradio_img2img_tool", "gradio_inpaint_tool", "gradio_allowed_path", "opt_channelslast", "styles_file",
  "autolaunch", "theme", "use_textbox_seed", "disable_console_progressbars", "enable_console_prompts", "vae_path",
  "disable_safe_unpickle", "api", "api_auth", "api_log", "nowebui", "ui_debug_mode", "device_id", "administrator",
  "cors_allow_origins", "cors_allow_origins_regex", "tls_keyfile", "tls_certfile", "disable_tls_verify",
  "server_name", "gradio_queue", "no_gradio_queue", "skip_version_check", "no_hashing", "no_download_sd_model",
  "subpath", "add_stop_route", "api_server_stop", "timeout_keep_alive", "disable_all_extensions",
  "disable_extra_extensions", "skip_load_model_at_start", "unix_filenames_sanitization", "filenames_max_length",
  "no_prompt_history", "ldsr_models_path", "lora_dir", "lyco_dir_backcompat", "scunet_models_path",
  "swinir_models_path"};

a1111_flag_inputs worker() {
  a1111_flag_inputs in;
  in.data_dir = "/srv/sd";
  in.models_dir = "/srv/sd/models";
  in.checkpoint = "/srv/sd/models/model.safetensors";
  in.styles_file = "/srv/sd/styles.csv";
  in.host = "0.0.0.0";
  in.port = 3000;
  in.log_level = "info";
  return in;
}

const json_value& at(const json_value& v, const std::string& key) {
  const json_value* m = v.find(key);
  BOOST_TEST_REQUIRE(m != nullptr, key);
  return *m;
}

} // namespace

BOOST_AUTO_TEST_CASE(cmd_flags_has_every_a1111_dest_in_order) {
  const json_value flags = parse_json(cmd_flags_json(worker()));
  std::vector<std::string> keys;
  for (const auto& [k, v] : flags.as_object()) {
    keys.push_back(k);
  }
  BOOST_TEST(keys == a1111_flags, boost::test_tools::per_element());
  BOOST_TEST(std::set<std::string>(keys.begin(), keys.end()).size() == keys.size());
}

BOOST_AUTO_TEST_CASE(cmd_flags_show_how_the_worker_runs) {
  json_value f = parse_json(cmd_flags_json(worker()));
  BOOST_TEST(at(f, "api").as_bool());
  BOOST_TEST(at(f, "nowebui").as_bool());
  BOOST_TEST(at(f, "listen").as_bool());
  BOOST_TEST(at(f, "server_name").is_null());
  BOOST_TEST(at(f, "port").as_string() == "3000");  // pydantic turned the int into the str field's type
  BOOST_TEST(at(f, "no_half_vae").as_bool());
  BOOST_TEST(at(f, "no_half").as_bool());
  BOOST_TEST(at(f, "precision").as_string() == "full");
  BOOST_TEST(at(f, "api_auth").is_null());
  BOOST_TEST(at(f, "loglevel").as_string() == "INFO");
  BOOST_TEST(at(f, "ckpt").as_string() == "/srv/sd/models/model.safetensors");
  BOOST_TEST(at(f, "lora_dir").as_string() == "/srv/sd/models/Lora");
  BOOST_TEST(at(f, "embeddings_dir").as_string() == "/srv/sd/embeddings");
  BOOST_TEST(to_json(at(f, "styles_file")) == R"(["/srv/sd/styles.csv"])");
  BOOST_TEST(to_json(at(f, "gradio_allowed_path")) == R"(["/srv/sd"])");
  BOOST_TEST(to_json(at(f, "use_cpu")) == "[]");
  BOOST_TEST(to_json(at(f, "ngrok_options")) == "{}");
  BOOST_TEST(at(f, "max_batch_count").as_int() == 16);
  BOOST_TEST(at(f, "gradio_queue").as_bool());
  BOOST_TEST(at(f, "xformers").as_bool() == false);

  a1111_flag_inputs in = worker();
  in.host = "127.0.0.1";
  in.port = 7861;
  in.api_auth_users = {"alice", "bob"};
  in.half = true;
  in.device_id = "1";
  in.checkpoint.clear();
  f = parse_json(cmd_flags_json(in));
  BOOST_TEST(at(f, "listen").as_bool() == false);
  BOOST_TEST(at(f, "server_name").is_null());
  BOOST_TEST(at(f, "port").as_string() == "7861");
  BOOST_TEST(at(f, "api_auth").as_string() == "alice:***,bob:***");  // no password is shown
  BOOST_TEST(at(f, "no_half").as_bool() == false);
  BOOST_TEST(at(f, "precision").as_string() == "autocast");
  BOOST_TEST(at(f, "device_id").as_string() == "1");
  BOOST_TEST(at(f, "ckpt").is_null());
  in.host = "10.0.0.5";
  f = parse_json(cmd_flags_json(in));
  BOOST_TEST(at(f, "listen").as_bool() == false);
  BOOST_TEST(at(f, "server_name").as_string() == "10.0.0.5");
}

BOOST_AUTO_TEST_CASE(upscalers_and_latent_modes_as_a1111_lists_them) {
  BOOST_TEST(upscalers_json(builtin_upscalers()) ==
             R"([{"name":"None","model_name":null,"model_path":null,"model_url":null,"scale":4.0},)"
             R"({"name":"Lanczos","model_name":null,"model_path":null,"model_url":null,"scale":4.0},)"
             R"({"name":"Nearest","model_name":null,"model_path":null,"model_url":null,"scale":4.0}])");
  const std::vector<upscaler_listing> esrgan = {
    {"4x-UltraSharp", "4x-UltraSharp", "/m/ESRGAN/4x-UltraSharp.pth", std::nullopt, 4}};
  BOOST_TEST(upscalers_json(esrgan) ==
             R"([{"name":"4x-UltraSharp","model_name":"4x-UltraSharp","model_path":"/m/ESRGAN/4x-UltraSharp.pth",)"
             R"("model_url":null,"scale":4.0}])");
  BOOST_TEST(latent_upscale_modes_json() ==
             R"j([{"name":"Latent"},{"name":"Latent (antialiased)"},{"name":"Latent (bicubic)"},)j"
             R"j({"name":"Latent (bicubic antialiased)"},{"name":"Latent (nearest)"},)j"
             R"j({"name":"Latent (nearest-exact)"}])j");
}

BOOST_AUTO_TEST_CASE(other_listings_have_a1111s_shapes) {
  BOOST_TEST(face_restorers_json({}) == "[]");
  const std::vector<face_restorer_listing> restorers = {{"CodeFormer", std::nullopt}, {"GFPGAN", "/m/GFPGAN"}};
  BOOST_TEST(face_restorers_json(restorers) ==
             R"([{"name":"CodeFormer","cmd_dir":null},{"name":"GFPGAN","cmd_dir":"/m/GFPGAN"}])");
  const std::vector<realesrgan_listing> models = {{"R-ESRGAN 2x+", "/m/x2.pth", 2}};
  BOOST_TEST(realesrgan_models_json(models) == R"([{"name":"R-ESRGAN 2x+","path":"/m/x2.pth","scale":2}])");
  BOOST_TEST(embeddings_json() == R"({"loaded":{},"skipped":{}})");
  BOOST_TEST(scripts_json({}, {}) == R"({"txt2img":[],"img2img":[]})");
  BOOST_TEST(scripts_json(std::vector<std::string>{"x/y/z plot"}, std::vector<std::string>{"loopback", "x/y/z plot"}) ==
             R"({"txt2img":["x/y/z plot"],"img2img":["loopback","x/y/z plot"]})");
  BOOST_TEST(script_info_json({}) == "[]");
  script_info s{"loopback", false, true, {}};
  s.args.push_back({"Loops", 4, 1, 32, 1, std::nullopt});
  s.args.push_back({"Mode", "Linear", {}, {}, {}, std::vector<std::string>{"Linear", "Aggressive"}});
  BOOST_TEST(script_info_json({s}) ==
             R"([{"name":"loopback","is_alwayson":false,"is_img2img":true,"args":[)"
             R"({"label":"Loops","value":4,"minimum":1,"maximum":32,"step":1,"choices":null},)"
             R"({"label":"Mode","value":"Linear","minimum":null,"maximum":null,"step":null,)"
             R"("choices":["Linear","Aggressive"]}]}])");
}
