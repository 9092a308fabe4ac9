#include "actors/delivery.hpp"

#include "actors/http_call.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/runpod/result_images.hpp"
#include "runtime/runpod/runpod_api.hpp"
#include "runtime/runpod/runpod_log.hpp"
#include "runtime/runpod/runpod_worker.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <spdlog/spdlog.h>

#include <optional>

namespace sdw {
namespace {

/// How long a result post may take before it counts as a connection failure; a progress post
/// gets far less (it is only worth something while it is fresh).
constexpr auto result_timeout = std::chrono::seconds(60);
constexpr auto progress_timeout = std::chrono::seconds(5);

/// How often one image's upload is tried: a transient failure (no answer, 429, 5xx) is retried
/// after delivery_backoff's waits, about 4 s in all (RunPod's helper lets boto try 3 times), so a
/// storage that is down ends the job with an error result soon instead of holding it.
constexpr int upload_attempts = 5;
constexpr auto upload_timeout = std::chrono::seconds(120);

/// A result's images on their way to storage, one at a time.
struct result_upload {
  std::string over;                 ///< why they are uploaded: the result's size against the limit
  std::string bucket;               ///< chosen once per job, so a job's images share one bucket
  std::vector<std::string> images;  ///< decoded; each is freed once stored
  std::vector<std::string> urls;    ///< presigned GET URLs of those stored so far
  std::string key;                  ///< the object key of the image under way
  std::string content_type;
  int attempts = 0;                 ///< of the image under way
};

/// One job's posts: its progress updates, then its result.
struct job_delivery_state {
  delivery_config config;
  std::string job_id;
  bool posting = false;                  ///< a post is under way
  bool posting_result = false;           ///< ... and it is the result
  std::optional<job_post> next_progress;  ///< the latest update, waiting for the one under way
  std::optional<job_post> result;
  caf::response_promise promise;
  int attempts = 0;
  bool replaced = false;  ///< the result is our error result standing in for a refused one
  std::optional<result_upload> upload;  ///< the result's images being uploaded before it is posted
  std::chrono::steady_clock::time_point first_try;
};

using job_pointer = caf::stateful_actor<job_delivery_state>*;

void post(job_pointer self, const job_post& p, bool is_result) {
  auto& st = self->state;
  st.posting = true;
  st.posting_result = is_result;
  auto me = caf::actor_cast<caf::actor>(self);
  http_call_async("POST", p.url, st.config.authorization, p.body, is_result ? result_timeout : progress_timeout,
                  [me](http_exchange answer) { caf::anon_send(me, posted_atom::value, std::move(answer)); }, nullptr,
                  p.job_id);
}

void post_result(job_pointer self) {
  auto& st = self->state;
  if (st.attempts == 0) {
    st.first_try = std::chrono::steady_clock::now();
  }
  ++st.attempts;
  post(self, *st.result, true);
}

/// Stands an error result saying `why` in for the result (once), and posts it.
void replace_result(job_pointer self, const std::string& why) {
  auto& st = self->state;
  log_job(log_level::error, st.job_id, why + "; posting an error result instead");
  ++st.config.counters->results_replaced;
  st.result->body = done_error_body(runpod_error_text(errc::internal, "", why), false);
  st.replaced = true;
  st.attempts = 0;
  post_result(self);
}

void end(job_pointer self, bool delivered) {
  self->state.promise.deliver(delivered);
  self->quit();
}

/// Runs a step of the upload; one that throws (a result that cannot be rewritten, a request that
/// cannot be built) ends the upload with an error result instead of ending the actor with the job.
template <class Step>
void guard_upload(job_pointer self, Step step) {
  try {
    step();
  } catch (const std::exception& e) {
    auto& st = self->state;
    const std::string over = st.upload ? st.upload->over : std::string("the result is over the platform's limit");
    st.upload.reset();
    ++st.config.counters->upload_failures;
    replace_result(self, over + "; uploading its images to storage failed: " + e.what());
  }
}

/// Uploads the next image, or posts the result with the URLs once every image is stored.
void upload_next(job_pointer self) {
  auto& st = self->state;
  auto& u = *st.upload;
  const s3_storage& storage = st.config.storage;
  const size_t index = u.urls.size();
  if (index == u.images.size()) {
    st.result->body = with_image_urls(st.result->body, u.urls);
    st.upload.reset();
    log_job(log_level::info, st.job_id, "Images uploaded; posting their URLs");
    if (st.result->body.size() > st.config.max_result_bytes) {
      return replace_result(self, "the result is " + std::to_string(st.result->body.size()) +
                                    " bytes even with its images uploaded, over the platform's limit of " +
                                    std::to_string(st.config.max_result_bytes) + " (runpod.max-result-mb)");
    }
    return post_result(self);
  }
  const std::string& image = u.images[index];
  if (u.attempts == 0) {
    const image_file_type type = image_type_of(image);
    u.key = result_object_key(st.job_id, type.extension);
    u.content_type = type.content_type;
  }
  ++u.attempts;
  s3_request put = s3_put_object(storage, {u.bucket, u.key}, image, u.content_type, std::chrono::system_clock::now());
  auto me = caf::actor_cast<caf::actor>(self);
  http_call_async(http_call_request{put.method, put.url, std::move(put.headers), std::move(put.body)}, upload_timeout,
                  [me](http_exchange answer) { caf::anon_send(me, stored_atom::value, std::move(answer)); });
}

void on_stored(job_pointer self, const http_exchange& answer) {
  auto& st = self->state;
  auto& u = *st.upload;
  const s3_storage& storage = st.config.storage;
  const size_t index = u.urls.size();
  if (answer.failure.empty() && answer.status >= 200 && answer.status < 300) {
    u.urls.push_back(s3_presigned_get(storage, {u.bucket, u.key}, std::chrono::system_clock::now()));
    ++st.config.counters->uploads;
    std::string().swap(u.images[index]);
    u.attempts = 0;
    return upload_next(self);
  }
  const std::string why = answer.failure.empty() ? s3_error_text(answer.status, answer.body) : answer.failure;
  const std::string where = s3_storage_name(storage, u.bucket);
  const std::string which = "image " + std::to_string(index + 1) + " of " + std::to_string(u.images.size());
  const bool retryable = !answer.failure.empty() || answer.status == 429 || answer.status >= 500;
  if (retryable && u.attempts < upload_attempts) {
    const auto wait = delivery_backoff(u.attempts);
    ++st.config.counters->upload_retries;
    log_job(log_level::warn, st.job_id,
            "uploading " + which + " to " + where + " failed (" + why + "); retrying in " +
              std::to_string(wait.count()) + " ms");
    self->delayed_send(self, wait, upload_atom::value);
    return;
  }
  const std::string over = u.over;
  const int attempts = u.attempts;
  st.upload.reset();
  ++st.config.counters->upload_failures;
  replace_result(self, over + "; uploading its images to the S3-compatible storage (" + where + ") failed: " + which +
                         ": " + why +
                         (attempts > 1 ? " (" + std::to_string(attempts) + " attempts)" : std::string()));
}

void start_result(job_pointer self) {
  auto& st = self->state;
  const size_t size = st.result->body.size();
  if (size <= st.config.max_result_bytes) {
    return post_result(self);
  }
  const std::string over = "the result is " + std::to_string(size) + " bytes, over the platform's limit of " +
                           std::to_string(st.config.max_result_bytes) + " (runpod.max-result-mb)";
  const s3_storage& storage = st.config.storage;
  if (!storage.configured()) {
    return replace_result(self, over + ": ask for fewer or smaller images, or configure S3-compatible storage "
                                       "(BUCKET_ENDPOINT_URL, BUCKET_ACCESS_KEY_ID, BUCKET_SECRET_ACCESS_KEY) for "
                                       "their upload");
  }
  result_upload u;
  u.over = over;
  try {
    u.images = result_image_bytes(st.result->body);
  } catch (const error& e) {
    return replace_result(self, over + ", and its images cannot be uploaded: " + e.what());
  }
  if (u.images.empty()) {
    return replace_result(self, over + ", and it holds no images to upload to storage");
  }
  u.bucket = storage.bucket.empty() ? s3_default_bucket(std::chrono::system_clock::now()) : storage.bucket;
  log_job(log_level::info, st.job_id,
          over + "; uploading its " + std::to_string(u.images.size()) + " images to " +
            s3_storage_name(storage, u.bucket));
  st.upload = std::move(u);
  guard_upload(self, [&] { upload_next(self); });
}

void on_result_answer(job_pointer self, const http_exchange& answer) {
  auto& st = self->state;
  const std::string url = url_for_log(st.result->url);
  if (answer.failure.empty() && answer.status >= 200 && answer.status < 300) {
    log_job(log_level::info, st.job_id, "Finished. Result delivered to " + url);
    ++st.config.counters->results_delivered;
    return end(self, !st.replaced);
  }
  const std::string why = answer.failure.empty() ? "HTTP " + std::to_string(answer.status) : answer.failure;
  const bool retryable = !answer.failure.empty() || answer.status == 429 || answer.status >= 500;
  if (!retryable && !st.replaced) {
    return replace_result(self, "the platform refused the result (" + why + ": " + answer.body.substr(0, 200) + ")");
  }
  if (!retryable || std::chrono::steady_clock::now() - st.first_try >= delivery_give_up) {
    log_job(log_level::error, st.job_id,
            "Failed to return job results to " + url + " (" + why + ", " + std::to_string(st.attempts) +
              " attempts); giving up");
    ++st.config.counters->results_given_up;
    return end(self, false);
  }
  const auto wait = delivery_backoff(st.attempts);
  ++st.config.counters->result_retries;
  log_job(log_level::warn, st.job_id,
          "posting the result to " + url + " failed (" + why + "); retrying in " + std::to_string(wait.count()) + " ms");
  // Stays `posting` while it waits, so no progress update slips in after the result.
  self->delayed_send(self, wait, resend_atom::value);
}

caf::behavior job_delivery(job_pointer self, delivery_config config, std::string job_id) {
  self->state.config = std::move(config);
  self->state.job_id = std::move(job_id);
  return {
    [=](post_atom, job_post& p) {
      auto& st = self->state;
      if (st.result) {
        return;  // the result supersedes it
      }
      if (st.posting) {
        st.next_progress = std::move(p);
      } else {
        post(self, p, false);
      }
    },
    [=](deliver_atom, job_post& p) {
      auto& st = self->state;
      st.promise = self->make_response_promise();
      st.result = std::move(p);
      st.next_progress.reset();
      if (!st.posting) {
        start_result(self);
      }
      return st.promise;
    },
    [=](posted_atom, const http_exchange& answer) {
      auto& st = self->state;
      st.posting = false;
      if (st.posting_result) {
        return on_result_answer(self, answer);
      }
      if (!answer.failure.empty() || answer.status < 200 || answer.status >= 300) {
        ++st.config.counters->progress_failed;
        spdlog::debug("progress update for {} not posted: {}", st.job_id,
                      answer.failure.empty() ? "HTTP " + std::to_string(answer.status) : answer.failure);
      }
      if (st.result) {
        start_result(self);
      } else if (st.next_progress) {
        const job_post p = std::move(*st.next_progress);
        st.next_progress.reset();
        post(self, p, false);
      }
    },
    [=](resend_atom) { post_result(self); },
    [=](upload_atom) { guard_upload(self, [&] { upload_next(self); }); },
    [=](stored_atom, const http_exchange& answer) { guard_upload(self, [&] { on_stored(self, answer); }); },
  };
}

/// The actor delivering `job_id`'s posts, started on its first post.
caf::actor job_actor(delivery_actor::stateful_pointer<delivery_state> self, const std::string& job_id) {
  auto& jobs = self->state.jobs;
  auto it = jobs.find(job_id);
  if (it != jobs.end()) {
    return it->second;
  }
  auto actor = self->spawn<caf::monitored>(job_delivery, self->state.config, job_id);
  jobs.emplace(job_id, actor);
  return actor;
}

} // namespace

delivery_actor::behavior_type delivery(delivery_actor::stateful_pointer<delivery_state> self, delivery_config config) {
  self->state.config = std::move(config);
  self->set_down_handler([self](const caf::down_msg& down) {
    auto& jobs = self->state.jobs;
    for (auto it = jobs.begin(); it != jobs.end(); ++it) {
      if (it->second.address() == down.source) {
        jobs.erase(it);
        return;
      }
    }
  });
  return {
    [=](deliver_atom, job_post& p) -> caf::result<bool> {
      const caf::actor job = job_actor(self, p.job_id);
      return self->delegate(caf::actor_cast<delivery_actor>(job), deliver_atom::value, std::move(p));
    },
    [=](post_atom, job_post& p) {
      const caf::actor job = job_actor(self, p.job_id);
      caf::anon_send(job, post_atom::value, std::move(p));
    },
  };
}

} // namespace sdw
