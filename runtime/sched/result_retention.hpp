#pragma once
/// Which finished jobs a worker still remembers for /status, /stream and /retry: the oldest are
/// forgotten first, once there are more than a count, once together they hold more than a byte
/// budget (images are most of it), and once they are older than an age (RunPod keeps /run
/// results for 30 minutes). The newest result is kept whatever its size, so that its client can
/// still read it once. Plain bookkeeping with the time passed in.

#include <chrono>
#include <cstddef>
#include <deque>
#include <string>
#include <vector>

namespace sdw {

struct retention_limits {
  std::size_t max_count = 512;
  std::size_t max_bytes = std::size_t{512} << 20;
  std::chrono::seconds max_age{1800};
};

class result_retention {
public:
  using time_point = std::chrono::steady_clock::time_point;

  explicit result_retention(retention_limits limits = {}) : limits_(limits) {}

  /// Keeps result `id` of `bytes` finished at `now`; the ids to forget now, oldest first (never
  /// `id` itself). An id kept already is kept again as new.
  std::vector<std::string> keep(const std::string& id, std::size_t bytes, time_point now);
  /// The results older than the age at `now`, oldest first; they are no longer kept.
  std::vector<std::string> expire(time_point now);
  /// `id` is no longer kept (its one reader took it, or it runs again).
  void drop(const std::string& id);

  std::size_t size() const { return kept_.size(); }
  std::size_t bytes() const { return bytes_; }
  const retention_limits& limits() const { return limits_; }

private:
  struct entry {
    std::string id;
    std::size_t bytes;
    time_point finished;
  };

  retention_limits limits_;
  std::deque<entry> kept_;  ///< oldest first
  std::size_t bytes_ = 0;
};

} // namespace sdw
