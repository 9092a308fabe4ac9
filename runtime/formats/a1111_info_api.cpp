#include "runtime/formats/a1111_info_api.hpp"

#include "runtime/base/encoding.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/base/secret_compare.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <sstream>

namespace sdw {
namespace {

http_answer unauthorized(const std::string& detail) {
  json_value body = json_value::object();
  body.set("error", "HTTPException");
  body.set("detail", detail);
  body.set("body", "");
  body.set("errors", "");
  return {401, to_json(body)};
}

} // namespace

std::string schedulers_json() {
  struct row {
    const char* name;
    const char* label;
    const char* alias;
    double default_rho;
    bool need_inner_model;
  };
  static const row rows[] = {
    {"automatic", "Automatic", nullptr, -1.0, false},
    {"uniform", "Uniform", nullptr, -1.0, true},
    {"karras", "Karras", nullptr, 7.0, false},
    {"exponential", "Exponential", nullptr, -1.0, false},
    {"polyexponential", "Polyexponential", nullptr, 1.0, false},
    {"sgm_uniform", "SGM Uniform", "SGMUniform", -1.0, true},
  };
  json_value list = json_value::array();
  for (const auto& r : rows) {
    json_value item = json_value::object();
    item.set("name", r.name);
    item.set("label", r.label);
    if (r.alias != nullptr) {
      json_value aliases = json_value::array();
      aliases.push_back(r.alias);
      item.set("aliases", std::move(aliases));
    } else {
      item.set("aliases", json_value());
    }
    item.set("default_rho", r.default_rho);
    item.set("need_inner_model", r.need_inner_model);
    list.push_back(std::move(item));
  }
  return to_json(list);
}

progress_view make_progress_view(int job_step, int job_steps, int iterations, int64_t started_unix_ms,
                                 int64_t now_unix_ms) {
  progress_view v;
  v.running = true;
  v.job_count = std::max(iterations, 1);
  v.sampling_steps = std::max(job_steps / v.job_count, 0);
  if (v.sampling_steps > 0 && job_step > 0) {
    v.job_no = std::min((job_step - 1) / v.sampling_steps, v.job_count - 1);
    v.sampling_step = job_step - v.job_no * v.sampling_steps;
  }
  v.elapsed_s = std::max<int64_t>(now_unix_ms - started_unix_ms, 0) / 1000.0;
  const time_t start = static_cast<time_t>(started_unix_ms / 1000);
  std::tm tm{};
  localtime_r(&start, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", &tm);
  v.job_timestamp = stamp;
  return v;
}

std::string progress_json(const progress_view& v) {
  json_value state = json_value::object();
  state.set("skipped", v.skipped);
  state.set("interrupted", v.interrupted);
  state.set("stopping_generation", false);
  state.set("job", v.running ? "scripts_txt2img" : "");
  state.set("job_count", v.running ? v.job_count : 0);
  state.set("job_timestamp", v.job_timestamp);
  state.set("job_no", v.running ? v.job_no : 0);
  state.set("sampling_step", v.running ? v.sampling_step : 0);
  state.set("sampling_steps", v.running ? v.sampling_steps : 0);
  json_value body = json_value::object();
  if (!v.running || v.job_count == 0) {
    body.set("progress", 0.0);
    body.set("eta_relative", 0.0);
  } else {
    double progress = 0.01 + static_cast<double>(v.job_no) / v.job_count;
    if (v.sampling_steps > 0) {
      progress += 1.0 / v.job_count * v.sampling_step / v.sampling_steps;
    }
    const double eta = v.elapsed_s / progress;
    body.set("progress", std::min(progress, 1.0));
    body.set("eta_relative", eta - v.elapsed_s);
  }
  body.set("state", std::move(state));
  body.set("current_image", json_value());
  body.set("textinfo", json_value());
  return to_json(body);
}

std::string memory_json(std::string_view meminfo, int64_t rss_bytes) {
  int64_t total_kb = -1;
  std::istringstream in{std::string(meminfo)};
  std::string line;
  while (std::getline(in, line)) {
    long long kb = 0;
    if (std::sscanf(line.c_str(), "MemTotal: %lld kB", &kb) == 1) {
      total_kb = kb;
      break;
    }
  }
  json_value ram = json_value::object();
  if (total_kb <= 0 || rss_bytes < 0) {
    ram.set("error", "memory figures unavailable (/proc/meminfo, /proc/self/statm)");
  } else {
    const double total = static_cast<double>(total_kb) * 1024.0;
    const double used = static_cast<double>(rss_bytes);
    ram.set("free", total - used);
    ram.set("used", used);
    ram.set("total", total);
  }
  json_value cuda = json_value::object();
  cuda.set("error", "unavailable");
  json_value body = json_value::object();
  body.set("ram", std::move(ram));
  body.set("cuda", std::move(cuda));
  return to_json(body);
}

int64_t process_rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) {
    return -1;
  }
  long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lld %lld", &size, &resident);
  std::fclose(f);
  if (n != 2) {
    return -1;
  }
  return static_cast<int64_t>(resident) * static_cast<int64_t>(::sysconf(_SC_PAGESIZE));
}

std::vector<api_credential> parse_api_auth(const std::string& text) {
  std::vector<api_credential> users;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const std::string entry = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const size_t colon = entry.find(':');
    if (colon == std::string::npos || colon == 0) {
      throw error(errc::bad_request, "--api-auth", "expected user:password[,user2:password2], got '" + entry + "'");
    }
    users.push_back({entry.substr(0, colon), entry.substr(colon + 1)});
    if (comma == std::string::npos) {
      break;
    }
    start = comma + 1;
  }
  return users;
}

std::optional<http_answer> check_basic_auth(const std::vector<api_credential>& users,
                                            const std::optional<std::string>& authorization) {
  if (!authorization || authorization->empty()) {
    return unauthorized("Not authenticated");
  }
  const size_t space = authorization->find(' ');
  std::string scheme = authorization->substr(0, space);
  for (auto& c : scheme) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (scheme != "basic") {
    return unauthorized("Not authenticated");
  }
  const std::string param = space == std::string::npos ? "" : authorization->substr(space + 1);
  std::string decoded;
  try {
    decoded = base64_decode(param, "Authorization");
  } catch (const error&) {
    return unauthorized("Invalid authentication credentials");
  }
  const bool ascii = std::all_of(decoded.begin(), decoded.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  const size_t colon = decoded.find(':');
  if (!ascii || colon == std::string::npos) {
    return unauthorized("Invalid authentication credentials");
  }
  const std::string user = decoded.substr(0, colon), password = decoded.substr(colon + 1);
  // Every user is compared, user name and password alike, so the time tells nothing.
  bool known = false;
  for (const auto& u : users) {
    known |= same_secret(u.user, user) & same_secret(u.password, password);
  }
  if (known) {
    return std::nullopt;
  }
  return unauthorized("Incorrect username or password");
}

} // namespace sdw
