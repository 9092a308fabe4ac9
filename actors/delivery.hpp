#pragma once
/// The delivery actor: posts job results to RunPod's job-done URL, one at a time and in order.
/// A final result is retried on connection errors, 429 and 5xx with a capped backoff until the
/// platform accepts it (or for runpod_worker's delivery_give_up), so a taken job gets exactly one
/// result; progress updates are posted once, best effort. Runs on the CAF scheduler; the HTTP
/// calls run on the HTTP library's threads and report back as messages.

#include "messages/runpod.hpp"

#include <chrono>
#include <deque>
#include <string>
#include <unordered_set>

namespace sdw {

/// One post waiting or under way.
struct pending_post {
  job_post post;
  bool final = false;  ///< a job's result (retried, answered) or a progress update (best effort)
  caf::typed_response_promise<bool> promise;
  int attempts = 0;
  std::chrono::steady_clock::time_point first_try;
};

/// The delivery actor's state.
struct delivery_state {
  std::string authorization;  ///< the raw API key
  std::deque<pending_post> queue;
  bool busy = false;                          ///< the head of the queue is being posted
  std::unordered_set<std::string> finals;     ///< jobs whose result is queued: their progress is moot
};

/// The delivery actor's behaviour; `authorization` is sent as the Authorization header.
delivery_actor::behavior_type delivery(delivery_actor::stateful_pointer<delivery_state> self,
                                       std::string authorization);

} // namespace sdw
