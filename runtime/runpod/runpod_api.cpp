#include "runtime/runpod/runpod_api.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/base/secret_compare.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <random>

namespace sdw {

std::string new_job_id(std::string_view prefix) {
  // One generator per thread: ids are made on the HTTP listener's threads.
  thread_local std::mt19937_64 gen{std::random_device{}() ^ (static_cast<uint64_t>(std::random_device{}()) << 32)};
  const uint64_t hi = gen(), lo = gen();
  uint8_t b[16];
  for (int i = 0; i < 8; ++i) {
    b[i] = static_cast<uint8_t>(hi >> (56 - 8 * i));
    b[8 + i] = static_cast<uint8_t>(lo >> (56 - 8 * i));
  }
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  char text[37];
  std::snprintf(text, sizeof text, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  std::string id;
  if (!prefix.empty()) {
    id.append(prefix).push_back('-');
  }
  return id + text;
}

void check_runpod_body(std::string_view body) {
  const json_value doc = parse_json(body, "body");
  if (!doc.is_object()) {
    throw error(errc::bad_request, "body", "value is not a valid dict");
  }
  const json_value* input = doc.find("input");
  if (input == nullptr) {
    throw error(errc::bad_request, "input", "field required");
  }
  if (!input->is_object()) {
    throw error(errc::bad_request, "input", "value is not a valid dict");
  }
}

bool runpod_authorized(const std::vector<api_credential>& users, const std::string& api_key,
                       const std::optional<std::string>& authorization) {
  if (!authorization) {
    return false;
  }
  const std::string& value = *authorization;
  if (!api_key.empty()) {
    // RFC 7235: the scheme is case-insensitive.
    std::string scheme = value.substr(0, 7);
    std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char c) { return std::tolower(c); });
    const bool bearer = value.size() > 7 && scheme == "bearer ";
    if (same_secret(bearer ? std::string_view(value).substr(7) : std::string_view(value), api_key)) {
      return true;
    }
  }
  return !users.empty() && !check_basic_auth(users, authorization);
}

std::string runpod_unauthorized_json() {
  return R"({"error":"Unauthorized: send Authorization: Bearer <api key>, or the API's basic-auth credentials"})";
}

std::string runpod_job_json(const runpod_job_view& job) {
  std::string out = "{\"id\":" + json_quote(job.id, false) + ",\"status\":" + json_quote(job.status, false);
  if (job.delay_ms >= 0) {
    out += ",\"delayTime\":" + std::to_string(job.delay_ms);
  }
  if (job.execution_ms >= 0) {
    out += ",\"executionTime\":" + std::to_string(job.execution_ms);
  }
  if (!job.output_json.empty()) {
    out += ",\"output\":" + job.output_json;
  }
  if (!job.error.empty()) {
    out += ",\"error\":" + json_quote(job.error, false);
  }
  out += '}';
  return out;
}

std::string runpod_error_text(errc kind, const std::string& field, const std::string& message) {
  json_value e = json_value::object();
  e.set("error_type", to_string(kind));
  e.set("error_message", field.empty() ? message : field + ": " + message);
  e.set("field", field);
  return to_json(e);
}

int64_t runsync_wait_ms(const std::optional<std::string>& wait_query) {
  constexpr int64_t fallback = 90000;
  if (!wait_query || wait_query->empty()) {
    return fallback;
  }
  try {
    size_t used = 0;
    const long long v = std::stoll(*wait_query, &used);
    if (used != wait_query->size()) {
      return fallback;
    }
    return std::clamp<int64_t>(v, 1000, 300000);
  } catch (const std::exception&) {
    return fallback;
  }
}

int64_t parse_wait_ms(const std::optional<std::string>& wait_query, int64_t fallback, int64_t min_ms, int64_t max_ms) {
  if (!wait_query || wait_query->empty()) {
    return fallback;
  }
  const std::string& text = *wait_query;
  const bool digits = text.size() <= 18 && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits) {
    throw error(errc::bad_request, "wait", "expected a whole number of milliseconds, got '" + text + "'");
  }
  return std::clamp<int64_t>(std::stoll(text), min_ms, max_ms);
}

std::string runpod_stream_json(const std::string& id, const std::string& status) {
  return "{\"id\":" + json_quote(id, false) + ",\"status\":" + json_quote(status, false) + ",\"stream\":[]}";
}

std::string runpod_purge_json(int64_t removed) {
  return "{\"removed\":" + std::to_string(removed) + ",\"status\":\"completed\"}";
}

bool is_final_status(std::string_view status) {
  return status == "COMPLETED" || status == "FAILED" || status == "CANCELLED" || status == "TIMED_OUT";
}

std::string health_json(const service_health& h) {
  const bool ready = h.state == "ready";
  json_value model = json_value::object();
  model.set("state", h.state);
  model.set("name", h.model_name);
  model.set("progress", h.load_progress);
  model.set("stage", h.load_stage);
  if (!h.error.empty()) {
    model.set("error", h.error);
  }
  json_value jobs = json_value::object();
  jobs.set("completed", h.completed);
  jobs.set("failed", h.failed);
  jobs.set("cancelled", h.cancelled);
  jobs.set("inProgress", h.in_progress);
  jobs.set("inQueue", h.in_queue);
  jobs.set("retried", h.retried);
  json_value workers = json_value::object();
  workers.set("idle", ready && h.in_progress == 0 ? 1 : 0);
  workers.set("running", h.in_progress > 0 ? 1 : 0);
  workers.set("initializing", h.state == "loading" ? 1 : 0);
  workers.set("ready", ready ? 1 : 0);
  workers.set("unhealthy", h.state == "failed" ? 1 : 0);
  json_value body = json_value::object();
  body.set("status", h.state);
  body.set("model", std::move(model));
  body.set("jobs", std::move(jobs));
  body.set("workers", std::move(workers));
  json_value queue = json_value::object();
  queue.set("capacity", h.capacity);
  body.set("queue", std::move(queue));
  if (!h.current_job.empty()) {
    json_value current = json_value::object();
    current.set("id", h.current_job);
    current.set("step", h.current_step);
    current.set("steps", h.current_steps);
    body.set("current", std::move(current));
  }
  if (!h.devices.empty()) {
    json_value devices = json_value::array();
    for (const auto& d : h.devices) {
      json_value one = json_value::object();
      one.set("name", d.name);
      one.set("state", d.state);
      one.set("speed", d.speed);
      one.set("calibratedSpeed", d.calibrated_speed);
      one.set("running", d.running);
      one.set("jobs", d.jobs);
      one.set("batches", d.batches);
      one.set("images", d.images);
      one.set("busyMs", d.busy_ms);
      if (!d.model.empty()) {
        one.set("model", d.model);
      }
      if (!d.models.empty()) {
        json_value models = json_value::array();
        for (const auto& m : d.models) models.push_back(json_value(m));
        one.set("models", std::move(models));
        one.set("modelBytes", d.model_bytes);
      }
      devices.push_back(std::move(one));
    }
    body.set("devices", std::move(devices));
  }
  return to_json(body);
}

} // namespace sdw
