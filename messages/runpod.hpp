#pragma once
/// Messages and interfaces of the RunPod serverless side: the job poller (intake), the
/// delivery of results and the heartbeat.

#include "messages/atoms.hpp"
#include "messages/interfaces.hpp"

#include <caf/all.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace sdw {

/// poller: ask job-take for the next job.
using take_atom = caf::atom_constant<caf::atom("take")>;
/// poller: the job-take answer arrived.
using taken_atom = caf::atom_constant<caf::atom("taken")>;
/// poller: the A1111 call a job named has its result.
using answered_atom = caf::atom_constant<caf::atom("answered")>;
/// poller: stop taking jobs, finish and deliver the ones in flight, then end.
using stop_atom = caf::atom_constant<caf::atom("stop")>;
/// delivery: post a job's final result (retried until delivered).
using deliver_atom = caf::atom_constant<caf::atom("deliver")>;
/// delivery: post a progress update (best effort).
using post_atom = caf::atom_constant<caf::atom("post")>;
/// delivery: an HTTP post finished.
using posted_atom = caf::atom_constant<caf::atom("posted")>;
/// delivery: try the waiting post again (a job's retry, by the client, is messages/atoms.hpp's retry_atom).
using resend_atom = caf::atom_constant<caf::atom("resend")>;
/// delivery: upload the next image of a result to storage (again, after a transient failure).
using upload_atom = caf::atom_constant<caf::atom("upload")>;
/// delivery: an upload to storage finished.
using stored_atom = caf::atom_constant<caf::atom("stored")>;
/// heartbeat: the ids of the jobs in progress.
using jobs_atom = caf::atom_constant<caf::atom("jobs")>;

/// The outcome of one outgoing HTTP call: the status, content type and body, or why no answer came.
struct http_exchange {
  int32_t status = 0;        ///< 0 when no answer came
  std::string content_type;
  std::string body;
  std::string failure;       ///< connection error, timeout or cancellation; empty when answered
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, http_exchange& x) {
  return f(caf::meta::type_name("sdw::http_exchange"), x.status, x.content_type, x.body, x.failure);
}

/// A body to post for a job: the job-done URL (query included) and the JSON text.
struct job_post {
  std::string job_id;
  std::string url;
  std::string body;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job_post& x) {
  return f(caf::meta::type_name("sdw::job_post"), x.job_id, x.url, x.body);
}

/// delivery: posts job results in order. `deliver` answers true once the platform accepted the
/// result (2xx), false when it was given up (a 4xx answer, or retries for too long); `post` is a
/// best-effort progress update, dropped when it fails or when the job's result is already queued.
using delivery_actor = caf::typed_actor<
  caf::replies_to<deliver_atom, job_post>::with<bool>,
  caf::reacts_to<post_atom, job_post>>;

/// heartbeat: pings the platform every interval with the ids of the jobs in progress.
using heartbeat_actor = caf::typed_actor<
  caf::reacts_to<jobs_atom, std::vector<std::string>>,
  caf::reacts_to<tick_atom>>;

/// poller: takes jobs from RunPod, queues them at the scheduler (or runs the A1111 call they name,
/// whose result comes back as `answered`), hands results to delivery.
using poller_actor = caf::typed_actor<
  caf::reacts_to<take_atom>,
  caf::reacts_to<taken_atom, http_exchange>,
  caf::reacts_to<answered_atom, job_result>,
  caf::reacts_to<tick_atom>,
  caf::reacts_to<stop_atom>>;

/// Registers the RunPod message types (needed only across processes).
inline void add_runpod_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<http_exchange>("sdw::http_exchange");
  cfg.add_message_type<job_post>("sdw::job_post");
}

} // namespace sdw
