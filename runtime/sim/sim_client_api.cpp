// The client half of the emulated control plane: /v2/{endpoint}/run, runsync, status,
// status-sync, stream, cancel, retry, purge-queue and health, with the answers' shapes per the
// RunPod operation reference and the two SDKs (always HTTP 200 with JSON on success).
#include "runtime/sim/sim_control_plane.hpp"

#include "runtime/base/json_value.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/runpod/runpod_api.hpp"

#include <algorithm>
#include <exception>
#include <set>

namespace sdw {
namespace {

int wait_param(const std::string& query, int fallback) {
  const std::string text = sim_query_param(query, "wait");
  int v = fallback;
  try {
    v = text.empty() ? fallback : std::stoi(text);
  } catch (const std::exception&) {
  }
  return std::clamp(v, 1000, 300000);
}

} // namespace

sim_answer sim_control_plane::client(const std::string& method, const std::vector<std::string>& parts,
                                     const std::string& query, const std::string& body,
                                     std::unique_lock<std::mutex>& lock) {
  const std::string& op = parts[2];
  const std::string id = parts.size() > 3 ? parts[3] : "";
  auto wait_for = [&](const std::string& job, int ms) {
    changed_.wait_for(lock, std::chrono::milliseconds(ms), [&] {
      auto it = jobs_.find(job);
      return stopping_ || it == jobs_.end() || is_final_status(it->second.status);
    });
  };
  if (op == "run" || op == "runsync") {
    if (method != "POST") {
      return sim_error_answer(405, op + " takes POST");
    }
    std::string input;
    try {
      const json_value v = parse_json(body);
      const json_value* in = v.find("input");
      if (in == nullptr) {
        return sim_error_answer(400, "the body has no 'input'");
      }
      input = to_json(*in);
    } catch (const std::exception& e) {
      return sim_error_answer(400, e.what());
    }
    sim_job_record record;
    record.id = new_id(op == "runsync" ? "sync-" : "");
    record.input = input;
    const std::string job = record.id;
    enqueue_locked(std::move(record));
    if (op == "run") {
      return sim_json_answer(200, "{\"id\":" + json_quote(job, false) + ",\"status\":\"IN_QUEUE\"}");
    }
    wait_for(job, wait_param(query, 90000));
    return sim_json_answer(200, status_json(jobs_.at(job)));
  }
  if (op == "purge-queue") {
    int removed = 0;
    for (const auto& q : queue_) {
      auto it = jobs_.find(q);
      if (it != jobs_.end() && it->second.status == "IN_QUEUE") {
        it->second.status = "CANCELLED";
        ++removed;
      }
    }
    queue_.clear();
    changed_.notify_all();
    return sim_json_answer(200, "{\"removed\":" + std::to_string(removed) + ",\"status\":\"completed\"}");
  }
  if (op == "health") {
    int in_queue = 0, in_progress = 0, completed = 0, failed = 0;
    std::set<std::string> busy;
    for (const auto& [jid, r] : jobs_) {
      in_queue += r.status == "IN_QUEUE";
      completed += r.status == "COMPLETED";
      failed += r.status == "FAILED";
      if (r.status == "IN_PROGRESS") {
        ++in_progress;
        busy.insert(r.worker);
      }
    }
    int idle = 0, running = 0;
    const double now = now_ms();
    for (const auto& [name, w] : workers_) {
      if (w.last_ping_ms >= 0 && now - w.last_ping_ms <= config_.lost_after_ms) {
        (busy.count(name) > 0 ? running : idle) += 1;
      }
    }
    return sim_json_answer(200, "{\"jobs\":{\"completed\":" + std::to_string(completed) + ",\"failed\":" +
                         std::to_string(failed) + ",\"inProgress\":" + std::to_string(in_progress) +
                         ",\"inQueue\":" + std::to_string(in_queue) + ",\"retried\":" +
                         std::to_string(counters_.retried) + "},\"workers\":{\"idle\":" + std::to_string(idle) +
                         ",\"running\":" + std::to_string(running) + "}}");
  }
  auto it = jobs_.find(id);
  if (id.empty() || it == jobs_.end()) {
    return sim_error_answer(404, "job " + id + " not found");
  }
  if (op == "status") {
    return sim_json_answer(200, status_json(it->second));
  }
  if (op == "status-sync") {
    wait_for(id, wait_param(query, 90000));
    return sim_json_answer(200, status_json(jobs_.at(id)));
  }
  if (op == "stream") {
    // A short long poll, so that SDK clients that poll without a pause do not spin.
    changed_.wait_for(lock, std::chrono::milliseconds(200), [&] {
      const auto& r = jobs_.at(id);
      return stopping_ || !r.stream.empty() || is_final_status(r.status);
    });
    auto& r = jobs_.at(id);
    std::string chunks;
    for (const auto& c : r.stream) {
      chunks += (chunks.empty() ? "{\"output\":" : ",{\"output\":") + c + "}";
    }
    r.stream.clear();
    return sim_json_answer(200, "{\"status\":" + json_quote(r.status, false) + ",\"stream\":[" + chunks + "]}");
  }
  auto& r = it->second;
  if (op == "cancel") {
    if (!is_final_status(r.status)) {
      if (r.status == "IN_PROGRESS") {
        for (const auto& [worker, at] : holders_[id]) {
          workers_[worker].stop.push_back(id);
        }
      }
      queue_.erase(std::remove(queue_.begin(), queue_.end(), id), queue_.end());
      r.status = "CANCELLED";
      changed_.notify_all();
    }
    return sim_json_answer(200, "{\"id\":" + json_quote(id, false) + ",\"status\":" + json_quote(r.status, false) + "}");
  }
  if (op == "retry") {
    if (r.status != "FAILED" && r.status != "TIMED_OUT") {
      return sim_error_answer(400, "only FAILED or TIMED_OUT jobs can be retried; job " + id + " is " + r.status);
    }
    r.status = "IN_QUEUE";
    r.output.clear();
    r.done_ms = -1;
    r.results = 0;
    holders_.erase(id);
    queue_.push_back(id);
    ++counters_.retried;
    changed_.notify_all();
    return sim_json_answer(200, "{\"id\":" + json_quote(id, false) + ",\"status\":\"IN_QUEUE\"}");
  }
  return sim_error_answer(404, "unknown operation " + op);
}

} // namespace sdw
