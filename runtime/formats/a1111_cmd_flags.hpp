#pragma once
/// GET /sdapi/v1/cmd-flags: A1111 1.9.4's command-line flags (FlagsModel: every argparse dest of
/// modules/cmd_args.py and of the built-in extensions' preload.py) with the values that describe
/// how sdworker runs.

#include <string>
#include <vector>

namespace sdw {

/// The parts of sdworker's configuration the flags show.
struct a1111_flag_inputs {
  std::string data_dir;     ///< absolute; A1111's data path (sdworker's working directory)
  std::string models_dir;   ///< absolute model.dir
  std::string checkpoint;   ///< absolute checkpoint path; empty = the demo model
  std::string styles_file;  ///< absolute styles.csv path
  std::string host = "127.0.0.1";
  int port = 3000;
  std::vector<std::string> api_auth_users;  ///< --api-auth user names (passwords are never shown)
  bool half = false;        ///< the UNet and text encoder run in 16-bit floats
  std::string device_id;    ///< the CUDA ordinal of model.device ("cuda:1" → "1"); empty = none
  std::string log_level;    ///< log.level ("info"); shown as A1111's --loglevel spelling ("INFO")
};

/// The FlagsModel body, keys in A1111's order. Values follow how sdworker runs where a flag
/// describes it (api and nowebui true, listen or server_name from the host, port, no_half_vae true
/// as sdworker decodes in float32, opt_sdp_attention and opt_channelslast true, never downloading)
/// and A1111's defaults elsewhere. As A1111's pydantic model does, `port` is a string (its default
/// is None, so the field is typed str) and api_auth is shown with passwords masked.
std::string cmd_flags_json(const a1111_flag_inputs& in);

} // namespace sdw
