#include "actors/delivery.hpp"

#include "actors/http_call.hpp"
#include "runtime/runpod/runpod_log.hpp"
#include "runtime/runpod/runpod_worker.hpp"

#include <caf/send.hpp>
#include <spdlog/spdlog.h>

namespace sdw {
namespace {

using self_pointer = delivery_actor::stateful_pointer<delivery_state>;

/// How long one post may take before it counts as a connection failure.
constexpr auto post_timeout = std::chrono::seconds(60);

void post_head(self_pointer self) {
  auto& st = self->state;
  if (st.busy || st.queue.empty()) {
    return;
  }
  st.busy = true;
  pending_post& head = st.queue.front();
  if (head.attempts == 0) {
    head.first_try = std::chrono::steady_clock::now();
  }
  ++head.attempts;
  auto me = caf::actor_cast<delivery_actor>(self);
  http_call_async("POST", head.post.url, st.authorization, head.post.body, post_timeout,
                  [me](http_exchange answer) { caf::anon_send(me, posted_atom::value, std::move(answer)); }, nullptr,
                  head.post.job_id);
}

void finish_head(self_pointer self, bool delivered) {
  auto& st = self->state;
  pending_post head = std::move(st.queue.front());
  st.queue.pop_front();
  st.busy = false;
  if (head.final) {
    st.finals.erase(head.post.job_id);
    head.promise.deliver(delivered);
  }
  post_head(self);
}

void on_posted(self_pointer self, const http_exchange& answer) {
  auto& st = self->state;
  if (st.queue.empty()) {
    return;
  }
  pending_post& head = st.queue.front();
  const std::string url = url_for_log(head.post.url);
  if (answer.failure.empty() && answer.status >= 200 && answer.status < 300) {
    if (head.final) {
      log_job(log_level::info, head.post.job_id, "Finished. Result delivered to " + url);
    }
    finish_head(self, true);
    return;
  }
  const std::string why = answer.failure.empty() ? "HTTP " + std::to_string(answer.status) : answer.failure;
  if (!head.final) {
    spdlog::debug("progress update for {} not posted: {}", head.post.job_id, why);
    finish_head(self, false);
    return;
  }
  const bool retryable = !answer.failure.empty() || answer.status == 429 || answer.status >= 500;
  const bool too_long = std::chrono::steady_clock::now() - head.first_try >= delivery_give_up;
  if (!retryable || too_long) {
    log_job(log_level::error, head.post.job_id,
            "Failed to return job results to " + url + " (" + why + ", " + std::to_string(head.attempts) +
              " attempts); giving up");
    finish_head(self, false);
    return;
  }
  const auto wait = delivery_backoff(head.attempts);
  log_job(log_level::warn, head.post.job_id,
          "posting the result to " + url + " failed (" + why + "); retrying in " + std::to_string(wait.count()) +
            " ms");
  // Stays busy while it waits, so nothing overtakes the result.
  self->delayed_send(self, wait, resend_atom::value);
}

} // namespace

delivery_actor::behavior_type delivery(delivery_actor::stateful_pointer<delivery_state> self,
                                       std::string authorization) {
  self->state.authorization = std::move(authorization);
  return {
    [=](deliver_atom, job_post& post) -> caf::result<bool> {
      auto promise = self->make_response_promise<bool>();
      self->state.finals.insert(post.job_id);
      // Progress updates of this job still waiting would only confuse: the result supersedes them.
      auto& q = self->state.queue;
      const std::string id = post.job_id;
      for (auto it = q.begin(); it != q.end();) {
        const bool in_flight = self->state.busy && it == q.begin();
        if (!it->final && it->post.job_id == id && !in_flight) {
          it = q.erase(it);
        } else {
          ++it;
        }
      }
      q.push_back(pending_post{std::move(post), true, promise, 0, {}});
      post_head(self);
      return promise;
    },
    [=](post_atom, job_post& post) {
      if (self->state.finals.count(post.job_id) != 0) {
        return;
      }
      self->state.queue.push_back(pending_post{std::move(post), false, {}, 0, {}});
      post_head(self);
    },
    [=](posted_atom, const http_exchange& answer) { on_posted(self, answer); },
    [=](resend_atom) {
      self->state.busy = false;
      post_head(self);
    },
  };
}

} // namespace sdw
