#include "runtime/formats/a1111_cmd_flags.hpp"

#include "runtime/base/json_value.hpp"
#include "runtime/base/json_writer.hpp"

#include <filesystem>

namespace sdw {
namespace {

std::string under(const std::string& dir, const char* name) { return (std::filesystem::path(dir) / name).string(); }

json_value text_or_null(const std::string& s) { return s.empty() ? json_value() : json_value(s); }

json_value one_item(const std::string& s) {
  json_value list = json_value::array();
  list.push_back(s);
  return list;
}

json_value loglevel(const std::string& level) {
  if (level == "trace" || level == "debug") return "DEBUG";
  if (level == "info") return "INFO";
  if (level == "warn") return "WARNING";
  if (level == "error") return "ERROR";
  return {};
}

json_value masked_auth(const std::vector<std::string>& users) {
  std::string text;
  for (const auto& u : users) {
    text += (text.empty() ? "" : ",") + u + ":***";
  }
  return text_or_null(text);
}

} // namespace

std::string cmd_flags_json(const a1111_flag_inputs& in) {
  const std::string& data = in.data_dir;
  const std::string& models = in.models_dir;
  const bool listen = in.host == "0.0.0.0";
  const bool own_name = !listen && in.host != "127.0.0.1";
  json_value f = json_value::object();
  // modules/cmd_args.py, in its order.
  f.set("f", false);
  f.set("update_all_extensions", false);
  f.set("skip_python_version_check", true);  // worker-a1111 launches A1111 with these three
  f.set("skip_torch_cuda_test", true);
  f.set("reinstall_xformers", false);
  f.set("reinstall_torch", false);
  f.set("update_check", false);
  f.set("test_server", false);
  f.set("log_startup", false);
  f.set("skip_prepare_environment", false);
  f.set("skip_install", true);
  f.set("dump_sysinfo", false);
  f.set("loglevel", loglevel(in.log_level));
  f.set("do_not_download_clip", true);  // sdworker downloads nothing
  f.set("data_dir", data);
  f.set("models_dir", models);
  f.set("config", json_value());
  f.set("ckpt", text_or_null(in.checkpoint));
  f.set("ckpt_dir", models);
  f.set("vae_dir", json_value());
  f.set("gfpgan_dir", "./GFPGAN");
  f.set("gfpgan_model", json_value());
  f.set("no_half", !in.half);
  f.set("no_half_vae", true);  // the VAE runs in float32
  f.set("no_progressbar_hiding", false);
  f.set("max_batch_count", 16);
  f.set("embeddings_dir", under(data, "embeddings"));
  f.set("textual_inversion_templates_dir", under(data, "textual_inversion_templates"));
  f.set("hypernetwork_dir", under(models, "hypernetworks"));
  f.set("localizations_dir", under(data, "localizations"));
  f.set("allow_code", false);
  f.set("medvram", false);
  f.set("medvram_sdxl", false);
  f.set("lowvram", false);
  f.set("lowram", false);
  f.set("always_batch_cond_uncond", false);
  f.set("unload_gfpgan", false);
  f.set("precision", in.half ? "autocast" : "full");
  f.set("upcast_sampling", false);
  f.set("share", false);
  f.set("ngrok", json_value());
  f.set("ngrok_region", "");
  f.set("ngrok_options", json_value::object());
  f.set("enable_insecure_extension_access", false);
  f.set("codeformer_models_path", under(models, "Codeformer"));
  f.set("gfpgan_models_path", under(models, "GFPGAN"));
  f.set("esrgan_models_path", under(models, "ESRGAN"));
  f.set("bsrgan_models_path", under(models, "BSRGAN"));
  f.set("realesrgan_models_path", under(models, "RealESRGAN"));
  f.set("dat_models_path", under(models, "DAT"));
  f.set("clip_models_path", json_value());
  f.set("xformers", false);
  f.set("force_enable_xformers", false);
  f.set("xformers_flash_attention", false);
  f.set("deepdanbooru", false);
  f.set("opt_split_attention", false);
  f.set("opt_sub_quad_attention", false);
  f.set("sub_quad_q_chunk_size", 1024);
  f.set("sub_quad_kv_chunk_size", json_value());
  f.set("sub_quad_chunk_threshold", json_value());
  f.set("opt_split_attention_invokeai", false);
  f.set("opt_split_attention_v1", false);
  f.set("opt_sdp_attention", true);  // attention is torch's scaled_dot_product_attention
  f.set("opt_sdp_no_mem_attention", false);
  f.set("disable_opt_split_attention", false);
  f.set("disable_nan_check", false);
  f.set("use_cpu", json_value::array());
  f.set("use_ipex", false);
  f.set("disable_model_loading_ram_optimization", false);
  f.set("listen", listen);
  // FlagsModel types a flag by its default; --port defaults to None, so the field is a str.
  f.set("port", std::to_string(in.port));
  f.set("show_negative_prompt", false);
  f.set("ui_config_file", under(data, "ui-config.json"));
  f.set("hide_ui_dir_config", false);
  f.set("freeze_settings", false);
  f.set("freeze_settings_in_sections", json_value());
  f.set("freeze_specific_settings", json_value());
  f.set("ui_settings_file", under(data, "config.json"));
  f.set("gradio_debug", false);
  f.set("gradio_auth", json_value());
  f.set("gradio_auth_path", json_value());
  f.set("gradio_img2img_tool", json_value());
  f.set("gradio_inpaint_tool", json_value());
  f.set("gradio_allowed_path", one_item(data));
  f.set("opt_channelslast", true);  // the UNet and VAE run channels-last
  f.set("styles_file", one_item(in.styles_file));
  f.set("autolaunch", false);
  f.set("theme", json_value());
  f.set("use_textbox_seed", false);
  f.set("disable_console_progressbars", false);
  f.set("enable_console_prompts", false);
  f.set("vae_path", json_value());
  f.set("disable_safe_unpickle", false);  // .ckpt files go through the restricted reader
  f.set("api", true);
  f.set("api_auth", masked_auth(in.api_auth_users));
  f.set("api_log", false);
  f.set("nowebui", true);
  f.set("ui_debug_mode", false);
  f.set("device_id", text_or_null(in.device_id));
  f.set("administrator", false);
  f.set("cors_allow_origins", json_value());
  f.set("cors_allow_origins_regex", json_value());
  f.set("tls_keyfile", json_value());
  f.set("tls_certfile", json_value());
  f.set("disable_tls_verify", json_value());
  f.set("server_name", own_name ? json_value(in.host) : json_value());
  f.set("gradio_queue", true);
  f.set("no_gradio_queue", false);
  f.set("skip_version_check", true);
  f.set("no_hashing", false);
  f.set("no_download_sd_model", true);
  f.set("subpath", json_value());
  f.set("add_stop_route", false);
  f.set("api_server_stop", false);
  f.set("timeout_keep_alive", 30);
  f.set("disable_all_extensions", false);
  f.set("disable_extra_extensions", false);
  f.set("skip_load_model_at_start", false);
  f.set("unix_filenames_sanitization", false);
  f.set("filenames_max_length", 128);
  f.set("no_prompt_history", false);
  // The built-in extensions' preload.py, in folder order: LDSR, Lora, ScuNET, SwinIR.
  f.set("ldsr_models_path", under(models, "LDSR"));
  f.set("lora_dir", under(models, "Lora"));
  f.set("lyco_dir_backcompat", under(models, "LyCORIS"));
  f.set("scunet_models_path", under(models, "ScuNET"));
  f.set("swinir_models_path", under(models, "SwinIR"));
  return to_json(f);
}

} // namespace sdw
