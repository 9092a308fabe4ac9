#include "runtime/runpod/runpod_worker.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/runpod/runpod_api.hpp"
#include "runtime/formats/txt2img_request.hpp"

#include <algorithm>
#include <cctype>

namespace sdw {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

} // namespace

bool runpod_settings::pings() const {
  return !ping_url.empty() && ping_url != "PING_NOT_SET" && !api_key.empty() && !worker_id.empty();
}

runpod_settings runpod_settings_from(const worker_config& config) {
  runpod_settings s;
  s.get_job_url = config.get_job_url;
  if (!config.post_output_url.empty()) {
    s.post_output_url = config.post_output_url;
  }
  s.ping_url = config.ping_url;
  s.ping_interval_ms = config.ping_interval_ms;
  s.api_key = config.api_key;
  // Without RUNPOD_POD_ID the SDK makes up a worker id; so does this worker.
  s.worker_id = config.pod_id.empty() ? new_job_id() : config.pod_id;
  s.endpoint_id = config.endpoint_id;
  s.max_megapixel_steps = config.max_megapixel_steps;
  s.max_result_bytes = static_cast<std::size_t>(config.max_result_mb) * 1'000'000;
  return s;
}

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  if (from.empty()) {
    return text;
  }
  for (size_t pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

std::string append_query(std::string url, std::string_view key_value) {
  if (url.find('?') == std::string::npos) {
    url.push_back('?');
  } else if (url.back() != '?' && url.back() != '&') {
    url.push_back('&');
  }
  url.append(key_value);
  return url;
}

std::string job_take_url(const runpod_settings& s, bool job_in_progress, int batch_size) {
  // `$RUNPOD_POD_ID` first: `$ID` is not inside it, but this keeps the order obvious.
  std::string url = replace_all(replace_all(s.get_job_url, "$RUNPOD_POD_ID", s.worker_id), "$ID", s.worker_id);
  if (batch_size > 1) {
    url = append_query(replace_all(std::move(url), "/job-take/", "/job-take-batch/"),
                       "batch_size=" + std::to_string(batch_size));
  }
  return append_query(std::move(url), job_in_progress ? "job_in_progress=1" : "job_in_progress=0");
}

std::string job_done_url(const runpod_settings& s, const std::string& job_id, bool is_stream) {
  std::string url = replace_all(replace_all(s.post_output_url, "$RUNPOD_POD_ID", s.worker_id), "$ID", job_id);
  return append_query(std::move(url), is_stream ? "isStream=true" : "isStream=false");
}

std::string job_done_url_for_run(const runpod_settings& s, const std::string& job_id, const std::string& device,
                                 int32_t batch_jobs) {
  static const char hex[] = "0123456789ABCDEF";
  std::string encoded;
  for (const unsigned char c : device) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      encoded.push_back(static_cast<char>(c));
    } else {
      encoded += {'%', hex[c >> 4], hex[c & 15]};
    }
  }
  return append_query(append_query(job_done_url(s, job_id, false), "device=" + encoded),
                      "batch_jobs=" + std::to_string(batch_jobs));
}

std::string ping_url(const runpod_settings& s, const std::vector<std::string>& job_ids) {
  std::string url = replace_all(replace_all(s.ping_url, "$RUNPOD_POD_ID", s.worker_id), "$ID", s.worker_id);
  if (!job_ids.empty()) {
    std::string ids;
    for (const auto& id : job_ids) {
      if (!ids.empty()) {
        ids += "%2C";  // the comma, as requests encodes it
      }
      ids += id;
    }
    url = append_query(std::move(url), "job_id=" + ids);
  }
  return append_query(std::move(url), std::string("runpod_version=") + runpod_worker_version);
}

std::string url_for_log(std::string_view url) {
  return std::string(url.substr(0, url.find('?')));
}

std::chrono::milliseconds take_pause(take_outcome::kind what) {
  switch (what) {
    case take_outcome::kind::jobs:
      return std::chrono::milliseconds(0);
    case take_outcome::kind::no_job:
      return std::chrono::milliseconds(200);
    case take_outcome::kind::back_off:
      return std::chrono::seconds(5);
    case take_outcome::kind::failed:
      break;
  }
  return std::chrono::seconds(1);
}

bool progress_throttle::should_post(const std::string& job, int step, std::chrono::steady_clock::time_point now) {
  if (job.empty() || step <= 0) {
    return false;
  }
  if (job != job_) {
    job_ = job;
    step_ = 0;
  }
  if (step == step_ || (step_ != 0 && now - posted_ < every)) {
    return false;
  }
  step_ = step;
  posted_ = now;
  return true;
}

void progress_throttle::forget(const std::string& job) {
  if (job == job_) {
    job_.clear();
  }
}

take_outcome classify_take(int status, std::string_view content_type, std::string_view body) {
  take_outcome out;
  if (status == 204 || status == 400) {
    return out;
  }
  if (status == 429) {
    out.what = take_outcome::kind::back_off;
    return out;
  }
  if (status < 200 || status > 299) {
    out.what = take_outcome::kind::failed;
    out.message = "job-take answered HTTP " + std::to_string(status);
    return out;
  }
  if (lower(std::string(content_type)).find("application/json") == std::string::npos ||
      body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return out;
  }
  json_value doc;
  try {
    doc = parse_json(body, "job");
  } catch (const error&) {
    return out;
  }
  json_array items;
  if (doc.is_object()) {
    items.push_back(std::move(doc));
  } else if (doc.is_array()) {
    items = std::move(doc.as_array());
  } else {
    return out;
  }
  for (auto& item : items) {
    const json_value* id = item.find("id");
    if (id == nullptr || !id->is_string() || id->as_string().empty()) {
      out.message = "job-take handed out a job without an id; it cannot be answered and is skipped";
      continue;
    }
    runpod_job job{id->as_string(), to_json(item)};
    if (item.find("input") == nullptr) {
      out.rejected.push_back(std::move(job));
    } else {
      out.jobs.push_back(std::move(job));
    }
  }
  out.what = out.jobs.empty() && out.rejected.empty() ? take_outcome::kind::no_job : take_outcome::kind::jobs;
  return out;
}

a1111_call job_call(std::string_view job_json) {
  json_value doc = parse_json(job_json, "job");
  const json_value* input = doc.find("input");
  if (input == nullptr) {
    throw error(errc::bad_request, "input", "field required");
  }
  if (!input->is_object()) {
    throw error(errc::bad_request, "input", "value is not a valid dict");
  }
  return unwrap_a1111_call(std::move(doc));
}

txt2img_request check_job_input(std::string_view job_json) {
  return generation_request_from_call(job_call(job_json));
}

namespace {

/// Python's truth value of a JSON value.
bool truthy(const json_value& v) {
  switch (v.type()) {
    case json_value::kind::null: return false;
    case json_value::kind::boolean: return v.as_bool();
    case json_value::kind::integer: return v.as_int() != 0;
    case json_value::kind::number: return v.as_double() != 0;
    case json_value::kind::string: return !v.as_string().empty();
    case json_value::kind::array: return !v.as_array().empty();
    case json_value::kind::object: return !v.as_object().empty();
  }
  return false;
}

} // namespace

handler_result handler_result_of(const std::string& answer_json) {
  handler_result r;
  json_value answer;
  try {
    answer = parse_json(answer_json, "answer");
  } catch (const std::exception& e) {
    r.failed = true;
    r.error_text = runpod_error_text(errc::internal, "", std::string("the A1111 answer is not JSON: ") + e.what());
    return r;
  }
  const json_value* error_value = answer.is_object() ? answer.find("error") : nullptr;
  if (error_value == nullptr || !truthy(*error_value)) {
    r.output_json = answer_json;
    return r;
  }
  r.failed = true;
  r.error_text = error_value->is_string() ? error_value->as_string() : to_json(*error_value);
  json_value rest = json_value::object();
  for (const auto& [key, value] : answer.as_object()) {
    // The SDK pops `error` and `refresh_worker` from the handler's dict.
    if (key != "error" && key != "refresh_worker") {
      rest.set(key, value);
    }
  }
  if (!rest.as_object().empty()) {
    r.output_json = to_json(rest);
  }
  return r;
}

std::string done_failed_body(const std::string& output_json, const std::string& error_text) {
  return "{\"output\":" + output_json + ",\"error\":" + json_quote(error_text, false) + "}";
}

std::string done_output_body(const std::string& output_json) {
  return "{\"output\":" + output_json + "}";
}

std::string done_error_body(const std::string& error_text, bool stop_pod) {
  std::string body = "{\"error\":" + json_quote(error_text, false);
  if (stop_pod) {
    body += ",\"stopPod\":true";
  }
  return body + "}";
}

std::string progress_body(int step, int steps) {
  json_value output = json_value::object();
  output.set("step", step);
  output.set("steps", steps);
  output.set("progress", steps > 0 ? static_cast<double>(step) / steps : 0.0);
  json_value body = json_value::object();
  body.set("status", "IN_PROGRESS");
  body.set("output", std::move(output));
  return to_json(body);
}

bool is_device_fault(std::string_view message) {
  const std::string m = lower(std::string(message));
  if (m.find("out of memory") != std::string::npos) {
    // The allocator recovers from this; the next, smaller job can run.
    return false;
  }
  for (const char* sign : {"cuda error", "cudnn_status", "cublas_status", "cusolver", "device-side assert",
                           "illegal memory access", "unspecified launch failure", "no cuda gpus are available",
                           "cuda driver", "ecc error"}) {
    if (m.find(sign) != std::string::npos) {
      return true;
    }
  }
  return false;
}

std::chrono::milliseconds delivery_backoff(int attempt) {
  const int shift = std::clamp(attempt - 1, 0, 5);
  return std::min(std::chrono::milliseconds(250 << shift), std::chrono::milliseconds(8000));
}

std::string runpod_log_json(const std::string& request_id, std::string_view message, std::string_view level) {
  constexpr size_t limit = 4096;
  std::string text(message);
  if (text.size() > limit) {
    const size_t half = limit / 2;
    text = text.substr(0, half) + "..." + text.substr(text.size() - half);
  }
  std::string line = "{\"requestId\":";
  line += request_id.empty() ? std::string("null") : json_quote(request_id, false);
  line += ",\"message\":" + json_quote(text, false) + ",\"level\":" + json_quote(level, false) + "}";
  return line;
}

runpod_job local_test_job(std::string_view text) {
  json_value doc = parse_json(text, "test_input");
  if (!doc.is_object()) {
    throw error(errc::bad_request, "test_input", "expected a JSON object with an \"input\" member");
  }
  if (doc.find("input") == nullptr) {
    throw error(errc::bad_request, "input", "field required");
  }
  const json_value* id = doc.find("id");
  if (id == nullptr || !id->is_string() || id->as_string().empty()) {
    doc.set("id", "local_test");
  }
  return runpod_job{doc.find("id")->as_string(), to_json(doc)};
}

} // namespace sdw
