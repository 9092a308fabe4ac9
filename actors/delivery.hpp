#pragma once
/// The delivery actor: posts job results and progress to RunPod's job-done URL, each job on its
/// own (a short-lived actor per job), so one job's retries never hold another's result.
/// A result is retried on connection errors, 429 and 5xx with a capped backoff until the platform
/// accepts it (or for runpod_worker's delivery_give_up), so a taken job gets exactly one result.
/// A result over the payload limit has its images uploaded to S3-compatible storage when one is
/// configured (one at a time; transient failures retried a few times) and is posted with their
/// presigned URLs in place of the base64 strings.
/// A result the platform refuses (another 4xx), one over the payload limit without storage, or one
/// whose upload failed, is replaced by a small error result saying why, so the job ends FAILED
/// with the reason instead of never.
/// Progress is best effort: one post at a time per job with a short timeout, the latest kept,
/// never posted after (or while) its job's result is. Runs on the CAF scheduler; the HTTP calls
/// run on the HTTP library's threads and report back as messages.

#include "messages/runpod.hpp"
#include "runtime/runpod/delivery_counters.hpp"
#include "runtime/storage/s3_storage.hpp"

#include <caf/actor.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <unordered_map>

namespace sdw {

struct delivery_config {
  std::string authorization;  ///< the raw API key, sent as Authorization
  std::size_t max_result_bytes = 20'000'000;  ///< RunPod's job-done payload limit
  s3_storage storage;  ///< where the images of a larger result go; unconfigured = such a result fails
  /// What the deliveries did, for /metrics; shared with whoever reads it.
  std::shared_ptr<delivery_counters> counters = std::make_shared<delivery_counters>();
};

/// The delivery actor's state: the actor delivering each job's posts.
struct delivery_state {
  delivery_config config;
  std::unordered_map<std::string, caf::actor> jobs;
};

/// The delivery actor's behaviour.
delivery_actor::behavior_type delivery(delivery_actor::stateful_pointer<delivery_state> self, delivery_config config);

} // namespace sdw
