#include "runtime/sim/sim_control_plane.hpp"

#include "runtime/base/json_value.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/runpod/runpod_api.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <exception>
#include <stdexcept>

namespace sdw {
namespace {

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t end = std::min(text.find(sep, pos), text.size());
    if (end > pos) {
      out.push_back(text.substr(pos, end - pos));
    }
    pos = end + 1;
  }
  return out;
}

/// A percent-encoded query value as text ('+' stays '+': our workers encode spaces as %20).
std::string percent_decode(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) != 0 &&
        std::isxdigit(static_cast<unsigned char>(text[i + 2])) != 0) {
      out.push_back(static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

/// A job-done post that reports progress (`"status": "IN_PROGRESS"`), not a result.
bool is_progress_post(const std::string& body) {
  try {
    const json_value v = parse_json(body);
    const json_value* status = v.find("status");
    return status != nullptr && status->is_string() && status->as_string() == "IN_PROGRESS";
  } catch (const std::exception&) {
    return false;
  }
}

} // namespace

sim_answer sim_json_answer(int status, std::string body) {
  sim_answer a;
  a.status = status;
  a.body = std::move(body);
  return a;
}

sim_answer sim_error_answer(int status, const std::string& message) {
  return sim_json_answer(status, "{\"error\":" + json_quote(message, false) + "}");
}

std::string sim_query_param(const std::string& query, const std::string& name) {
  for (const auto& kv : split(query, '&')) {
    const size_t eq = kv.find('=');
    if (kv.substr(0, eq) == name) {
      return eq == std::string::npos ? "" : kv.substr(eq + 1);
    }
  }
  return "";
}

sim_control_plane::sim_control_plane(sim_plane_config config)
  : config_(config), start_(std::chrono::steady_clock::now()), rng_(config.faults.seed), ids_(config.faults.seed + 1) {}

double sim_control_plane::now_ms() const {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
}

bool sim_control_plane::roll(double rate) {
  return rate > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < rate;
}

std::string sim_control_plane::new_id(const std::string& prefix) {
  // uuid4-shaped, from the seeded generator, so a run's ids repeat with its seed.
  const uint64_t a = ids_(), b = ids_();
  char buf[64];
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                static_cast<unsigned long long>(b & 0xffffffffffffull));
  return prefix + buf + "-u1";
}

void sim_control_plane::enqueue_locked(sim_job_record r) {
  r.status = "IN_QUEUE";
  r.submitted_ms = now_ms();
  const std::string id = r.id;
  if (!jobs_.emplace(id, std::move(r)).second) {
    throw std::invalid_argument("sim: a job " + id + " exists already");
  }
  order_.push_back(id);
  queue_.push_back(id);
  ++counters_.submitted;
  changed_.notify_all();
}

std::string sim_control_plane::submit(const std::string& input_json) {
  std::lock_guard<std::mutex> lock(mutex_);
  sim_job_record r;
  r.id = new_id("");
  r.input = input_json;
  enqueue_locked(r);
  return r.id;
}

void sim_control_plane::submit_as(const std::string& id, const std::string& input_json) {
  std::lock_guard<std::mutex> lock(mutex_);
  sim_job_record r;
  r.id = id;
  r.input = input_json;
  enqueue_locked(std::move(r));
}

void sim_control_plane::submit_raw(const std::string& id, const std::string& job_json) {
  std::lock_guard<std::mutex> lock(mutex_);
  sim_job_record r;
  r.id = id;
  r.raw_job = job_json;
  enqueue_locked(std::move(r));
}

void sim_control_plane::script_takes(int status, int n) {
  std::lock_guard<std::mutex> lock(mutex_);
  take_script_status_ = status;
  take_script_left_ = n;
}

void sim_control_plane::script_result_failures(int status, int n, const std::string& job) {
  std::lock_guard<std::mutex> lock(mutex_);
  result_script_status_ = status;
  result_script_left_ = n;
  result_script_job_ = job;
}

bool sim_control_plane::scripted_fault(const std::vector<std::string>& parts, const std::string& body,
                                       sim_answer& fault) {
  const std::string& op = parts[2];
  const bool for_job = result_script_job_.empty() || (parts.size() > 4 && parts[4] == result_script_job_);
  if ((op == "job-take" || op == "job-take-batch") && take_script_left_ > 0) {
    --take_script_left_;
    fault = sim_json_answer(take_script_status_, "{}");
  } else if (op == "job-done" && result_script_left_ > 0 && for_job && !is_progress_post(body)) {
    --result_script_left_;
    if (result_script_status_ == 0) {
      fault.action = sim_answer::how::reset;
    } else {
      fault = sim_error_answer(result_script_status_, "refused by the script");
    }
  } else {
    return false;
  }
  ++counters_.injected_faults;
  return true;
}

std::string sim_control_plane::wait_terminal(const std::string& id, int wait_ms) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] {
    auto it = jobs_.find(id);
    return stopping_ || it == jobs_.end() || is_final_status(it->second.status);
  });
  auto it = jobs_.find(id);
  return it == jobs_.end() ? "" : it->second.status;
}

void sim_control_plane::stop() {
  std::lock_guard<std::mutex> lock(mutex_);
  stopping_ = true;
  changed_.notify_all();
}

void sim_control_plane::sweep() {
  std::lock_guard<std::mutex> lock(mutex_);
  sweep_locked();
}

void sim_control_plane::sweep_locked() {
  const double now = now_ms();
  for (auto& [id, r] : jobs_) {
    if (r.status != "IN_PROGRESS") {
      continue;
    }
    auto seen = last_listed_ms_.find(id);
    const double last = seen == last_listed_ms_.end() ? r.taken_ms : seen->second;
    if (now - last > config_.lost_after_ms || now - r.taken_ms > config_.job_timeout_ms) {
      // Its worker died, dropped it or never delivered: back to the head of the queue.
      r.status = "IN_QUEUE";
      ++r.requeues;
      ++counters_.requeued;
      last_listed_ms_.erase(id);
      holders_.erase(id);
      if (std::find(queue_.begin(), queue_.end(), id) == queue_.end()) {
        queue_.push_front(id);
      }
      changed_.notify_all();
    }
  }
}

std::string sim_control_plane::status_json(const sim_job_record& r) const {
  std::string out = "{\"id\":" + json_quote(r.id, false) + ",\"status\":" + json_quote(r.status, false);
  if (r.taken_ms >= 0) {
    out += ",\"delayTime\":" + std::to_string(static_cast<int64_t>(r.taken_ms - r.submitted_ms));
  }
  if (r.done_ms >= 0 && r.taken_ms >= 0) {
    out += ",\"executionTime\":" + std::to_string(static_cast<int64_t>(r.done_ms - r.taken_ms));
  }
  if (!r.output.empty()) {
    out += std::string(r.status == "FAILED" ? ",\"error\":" : ",\"output\":") + r.output;
  }
  if (!r.worker.empty()) {
    out += ",\"workerId\":" + json_quote(r.worker, false);
  }
  return out + "}";
}

sim_answer sim_control_plane::handle(const std::string& method, const std::string& path, const std::string& query,
                                     const std::string& body) {
  const auto parts = split(path, '/');
  if (parts.size() < 3 || parts[0] != "v2") {
    return sim_error_answer(404, "unknown path " + path);
  }
  const std::string& op = parts[2];
  const bool batch_take = op == "job-take-batch";
  const bool worker_side = op == "job-take" || batch_take || op == "job-done" || op == "job-stream" || op == "ping" ||
                           op == "job-stop";
  std::unique_lock<std::mutex> lock(mutex_);
  sweep_locked();
  if (!worker_side) {
    return client(method, parts, query, body, lock);
  }
  if (parts.size() < 4) {
    return sim_error_answer(400, "no worker id in " + path);
  }
  const std::string& worker = parts[3];
  workers_[worker];
  if (sim_answer scripted; scripted_fault(parts, body, scripted)) {
    return scripted;
  }
  const auto& f = config_.faults;
  const int delay = roll(f.slow) ? f.slow_ms : 0;
  if (op == "job-take" || batch_take || op == "job-done") {
    sim_answer fault;
    fault.delay_ms = delay;
    if (roll(f.drop)) {
      fault.action = sim_answer::how::drop;
    } else if (roll(f.reset)) {
      fault.action = sim_answer::how::reset;
    } else if (roll(op == "job-done" ? f.done_5xx : f.take_5xx)) {
      fault.status = op == "job-done" ? 500 : 503;
      fault.body = R"({"error":"injected server error"})";
    } else if (op == "job-done" && !is_progress_post(body) && roll(f.done_4xx)) {
      fault.status = 400;
      fault.body = R"({"error":"injected refusal"})";
    } else {
      fault.status = 0;
    }
    if (fault.status != 0) {
      ++counters_.injected_faults;
      return fault;
    }
  }
  sim_answer a;
  if (op == "job-take") {
    a = take(worker, lock, 1, false);
  } else if (batch_take) {
    ++counters_.batch_takes;
    int n = 1;
    try {
      n = std::stoi(sim_query_param(query, "batch_size"));
    } catch (const std::exception&) {
      return sim_error_answer(400, "job-take-batch needs batch_size");
    }
    a = take(worker, lock, std::max(1, n), true);
  } else if (op == "job-done" || op == "job-stream") {
    if (parts.size() < 5) {
      return sim_error_answer(400, "no job id in " + path);
    }
    if (op == "job-stream") {
      auto it = jobs_.find(parts[4]);
      if (it != jobs_.end()) {
        try {
          const json_value v = parse_json(body);
          if (const json_value* out = v.find("output")) {
            it->second.stream.push_back(to_json(*out));
          }
        } catch (const std::exception&) {
          return sim_error_answer(400, "the stream chunk is not JSON");
        }
      }
      a = sim_json_answer(200, "{}");
    } else {
      a = done(worker, parts[4], query, body);
    }
  } else if (op == "ping") {
    auto& w = workers_[worker];
    w.last_ping_ms = now_ms();
    std::string ids = sim_query_param(query, "job_id");
    for (size_t p; (p = ids.find("%2C")) != std::string::npos || (p = ids.find("%2c")) != std::string::npos;) {
      ids.replace(p, 3, ",");
    }
    for (const auto& id : split(ids, ',')) {
      auto it = jobs_.find(id);
      if (it != jobs_.end() && it->second.status == "IN_PROGRESS") {
        last_listed_ms_[id] = w.last_ping_ms;
      }
    }
    a = sim_json_answer(200, "{}");
  } else {  // job-stop
    auto& w = workers_[worker];
    if (w.stop.empty()) {
      changed_.wait_for(lock, std::chrono::milliseconds(config_.take_wait_ms),
                        [&] { return stopping_ || !workers_[worker].stop.empty(); });
    }
    auto& stops = workers_[worker].stop;
    if (stops.empty()) {
      a.status = 204;
    } else {
      std::string list;
      for (const auto& id : stops) {
        list += (list.empty() ? "" : ",") + json_quote(id, false);
      }
      stops.clear();
      a = sim_json_answer(200, "{\"jobsToStop\":[" + list + "]}");
    }
  }
  a.delay_ms = delay;
  return a;
}

sim_answer sim_control_plane::take(const std::string& worker, std::unique_lock<std::mutex>& lock, int max_jobs,
                                   bool as_array) {
  changed_.wait_for(lock, std::chrono::milliseconds(config_.take_wait_ms),
                    [&] { return stopping_ || !queue_.empty(); });
  std::vector<std::string> taken;
  while (!queue_.empty() && static_cast<int>(taken.size()) < max_jobs) {
    const std::string id = queue_.front();
    queue_.pop_front();
    auto it = jobs_.find(id);
    if (it == jobs_.end() || is_final_status(it->second.status)) {
      continue;
    }
    auto& r = it->second;
    const double now = now_ms();
    const bool doubled = roll(config_.faults.duplicate);
    if (doubled) {
      // The platform hands the same job out twice: it stays at the head for the next take.
      queue_.push_front(id);
      ++counters_.injected_duplicates;
    }
    r.status = "IN_PROGRESS";
    r.worker = worker;
    r.taken_ms = now;
    ++r.takes;
    holders_[id][worker] = now;
    last_listed_ms_[id] = now;
    taken.push_back(!r.raw_job.empty() ? r.raw_job
                                       : "{\"id\":" + json_quote(id, false) + ",\"input\":" + r.input + "}");
    if (doubled) {
      break;  // the second hand-out goes to the next take, not twice into this answer
    }
  }
  if (!taken.empty()) {
    if (!as_array) {
      return sim_json_answer(200, taken.front());
    }
    std::string list;
    for (const auto& job : taken) {
      list += (list.empty() ? "" : ",") + job;
    }
    return sim_json_answer(200, "[" + list + "]");
  }
  sim_answer none;
  none.status = 204;
  return none;
}

sim_answer sim_control_plane::done(const std::string& worker, const std::string& job_id, const std::string& query,
                                   const std::string& body) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) {
    return sim_error_answer(404, "no job " + job_id);
  }
  auto& r = it->second;
  json_value v;
  try {
    v = parse_json(body);
  } catch (const std::exception&) {
    return sim_error_answer(400, "the result is not JSON");
  }
  const json_value* status = v.find("status");
  if (status != nullptr && status->is_string() && status->as_string() == "IN_PROGRESS") {
    if (!is_final_status(r.status)) {
      if (const json_value* out = v.find("output")) {
        r.output = to_json(*out);
      }
    }
    return sim_json_answer(200, "{}");
  }
  ++r.results;
  if (r.results > 1) {
    // Only the first result counts; every later one (a duplicate delivery, a late worker) is noted.
    ++counters_.duplicate_results;
  }
  if (is_final_status(r.status)) {
    return sim_json_answer(200, "{}");
  }
  const json_value* error = v.find("error");
  const json_value* output = v.find("output");
  r.status = error != nullptr ? "FAILED" : "COMPLETED";
  r.output = error != nullptr ? to_json(*error) : output != nullptr ? to_json(*output) : "";
  if (r.output.empty() && sim_query_param(query, "isStream") == "true") {
    r.output = "[]";
  }
  r.worker = worker;
  // How the job ran, when the worker says (query parameters beside isStream; see
  // job_done_url_for_run): the report's batch-size histogram counts the kept result only.
  r.device = percent_decode(sim_query_param(query, "device"));
  try {
    r.batch_jobs = std::max(0, std::stoi(sim_query_param(query, "batch_jobs")));
  } catch (const std::exception&) {
    r.batch_jobs = 0;
  }
  auto held = holders_[job_id].find(worker);
  if (held != holders_[job_id].end()) {
    r.taken_ms = held->second;
  }
  r.done_ms = now_ms();
  queue_.erase(std::remove(queue_.begin(), queue_.end(), job_id), queue_.end());
  last_listed_ms_.erase(job_id);
  changed_.notify_all();
  return sim_json_answer(200, "{}");
}

std::vector<sim_job_record> sim_control_plane::records() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<sim_job_record> out;
  for (const auto& id : order_) {
    out.push_back(jobs_.at(id));
  }
  return out;
}

sim_counters sim_control_plane::counters() const {
  std::lock_guard<std::mutex> lock(mutex_);
  sim_counters c = counters_;
  for (const auto& [id, r] : jobs_) {
    c.completed += r.status == "COMPLETED";
    c.failed += r.status == "FAILED";
    c.cancelled += r.status == "CANCELLED";
  }
  return c;
}

int sim_control_plane::live_workers() const {
  std::lock_guard<std::mutex> lock(mutex_);
  const double now = now_ms();
  int n = 0;
  for (const auto& [name, w] : workers_) {
    n += w.last_ping_ms >= 0 && now - w.last_ping_ms <= config_.lost_after_ms;
  }
  return n;
}

int sim_control_plane::unfinished() const {
  std::lock_guard<std::mutex> lock(mutex_);
  int n = 0;
  for (const auto& [id, r] : jobs_) {
    n += !is_final_status(r.status);
  }
  return n;
}

} // namespace sdw
