#include "runtime/sched/result_retention.hpp"

#include <algorithm>

namespace sdw {

std::vector<std::string> result_retention::keep(const std::string& id, std::size_t bytes, time_point now) {
  drop(id);
  std::vector<std::string> forgotten = expire(now);
  kept_.push_back(entry{id, bytes, now});
  bytes_ += bytes;
  while (kept_.size() > 1 && (kept_.size() > limits_.max_count || bytes_ > limits_.max_bytes)) {
    forgotten.push_back(kept_.front().id);
    bytes_ -= kept_.front().bytes;
    kept_.pop_front();
  }
  return forgotten;
}

std::vector<std::string> result_retention::expire(time_point now) {
  std::vector<std::string> forgotten;
  while (!kept_.empty() && now - kept_.front().finished > limits_.max_age) {
    forgotten.push_back(kept_.front().id);
    bytes_ -= kept_.front().bytes;
    kept_.pop_front();
  }
  return forgotten;
}

void result_retention::drop(const std::string& id) {
  auto it = std::find_if(kept_.begin(), kept_.end(), [&](const entry& e) { return e.id == id; });
  if (it != kept_.end()) {
    bytes_ -= it->bytes;
    kept_.erase(it);
  }
}

} // namespace sdw
