#include "app/config_file.hpp"

#include "runtime/base/errors.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/config_value.hpp>
#include <caf/settings.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace sdw {
namespace {

/// CAF's parser errors render as "parser_error(unexpected_newline, ({"column" = 1, "line" = 5}))";
/// users get "line 5, column 1: unexpected_newline" instead.
std::string describe(const caf::error& err) {
  std::string text = caf::actor_system_config::render(err);
  const auto open = text.find('('), comma = text.find(',');
  std::string what = open != std::string::npos && comma != std::string::npos && comma > open
                       ? text.substr(open + 1, comma - open - 1)
                       : text;
  if (!err.context().empty()) {
    int line = 0, column = 0;
    const auto ctx = caf::to_string(err.context());
    if (auto l = ctx.find("\"line\" = "); l != std::string::npos) {
      line = std::atoi(ctx.c_str() + l + 9);
    }
    if (auto c = ctx.find("\"column\" = "); c != std::string::npos) {
      column = std::atoi(ctx.c_str() + c + 11);
    }
    if (what == "unexpected_newline" && column <= 1 && line > 1) {
      // CAF points past the newline; the line that is cut short is the one before.
      return "line " + std::to_string(line - 1) + ": unexpected end of line";
    }
    if (line > 0) {
      return "line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + what;
    }
  }
  return what;
}

/// The text form set_config_value takes, for the kinds a key may hold.
std::string scalar_text(const std::string& file, const std::string& key, const caf::config_value& value) {
  if (auto s = caf::get_if<std::string>(&value)) {
    return *s;
  }
  if (auto i = caf::get_if<int64_t>(&value)) {
    return std::to_string(*i);
  }
  if (auto b = caf::get_if<bool>(&value)) {
    return *b ? "true" : "false";
  }
  throw error(errc::bad_request, file,
              key + " must be a string or an integer, got " + caf::to_string(value));
}

} // namespace

void load_config_file(worker_config& config, const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    throw error(errc::bad_request, path, "cannot read the configuration file");
  }
  auto parsed = caf::actor_system_config::parse_config(in);
  if (!parsed) {
    throw error(errc::bad_request, path, describe(parsed.error()));
  }
  for (const auto& [section, content] : *parsed) {
    const auto* keys = caf::get_if<caf::settings>(&content);
    if (keys == nullptr) {
      throw error(errc::bad_request, path, "'" + section + "' must be inside a [section]");
    }
    for (const auto& [key, value] : *keys) {
      const std::string name = section + "." + key;
      set_config_value(config, name, scalar_text(path, name, value), path);
    }
  }
}

worker_config load_worker_config(const std::string& path, std::string& used_file) {
  worker_config config;
  used_file = path;
  if (used_file.empty()) {
    if (const char* env = std::getenv("SDWORKER_CONFIG")) {
      used_file = env;
    } else if (std::filesystem::exists("conf/sdworker.ini")) {
      used_file = "conf/sdworker.ini";
    }
  }
  if (!used_file.empty()) {
    load_config_file(config, used_file);
  }
  apply_environment(config, [](const char* name) { return std::getenv(name); });
  return config;
}

} // namespace sdw
