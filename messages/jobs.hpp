#pragma once
/// Messages about generation jobs: the job itself, its progress, the generated images and the
/// final result. Plain owned data (ids, the typed request, numbers, bytes) with inspect() for CAF.

#include "messages/requests.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/formats/model_choice.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/meta/type_name.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

namespace sdw {

/// How a job is handled apart from its body.
struct job_options {
  /// Keep the finished job for later /status calls (RunPod jobs); A1111 requests are answered
  /// once and then forgotten.
  bool keep_result = true;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job_options& x) {
  return f(caf::meta::type_name("sdw::job_options"), x.keep_result);
}

/// Why a job failed: the error kind (which decides the HTTP status each API answers with), the
/// request field or file at fault (may be empty) and the message.
struct job_error {
  errc kind = errc::internal;
  std::string field;
  std::string message;
  /// `message` is the job's error as worker-a1111's handler returned it (the `error` of an A1111
  /// answer, e.g. "HTTPException"), shown as it is rather than as runpod_error_text's JSON.
  bool verbatim = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job_error& x) {
  return f(caf::meta::type_name("sdw::job_error"), x.kind, x.field, x.message, x.verbatim);
}

/// The job_error of a runtime error.
inline job_error job_error_of(const error& e) { return job_error{e.code(), e.where(), e.message()}; }

/// RunPod's job states.
enum class job_status : uint8_t { in_queue, in_progress, completed, failed, cancelled };

/// A state as RunPod's status API spells it ("IN_QUEUE", ...).
inline std::string to_string(job_status s) {
  switch (s) {
    case job_status::in_queue:
      return "IN_QUEUE";
    case job_status::in_progress:
      return "IN_PROGRESS";
    case job_status::completed:
      return "COMPLETED";
    case job_status::failed:
      return "FAILED";
    case job_status::cancelled:
      return "CANCELLED";
  }
  return "FAILED";
}

inline std::ostream& operator<<(std::ostream& out, job_status s) { return out << to_string(s); }

/// Whether a job in this state is done (it will not change again unless retried).
inline bool is_final(job_status s) {
  return s == job_status::completed || s == job_status::failed || s == job_status::cancelled;
}

/// A job as a client sees it: id, status, the A1111 response JSON once COMPLETED or the error
/// once FAILED, and times in milliseconds (-1 = not yet known).
struct job_result {
  std::string id;
  job_status status = job_status::in_queue;
  std::string output_json;
  job_error error;
  int64_t delay_ms = -1;      ///< from submission to the start of execution
  int64_t execution_ms = -1;  ///< from the start of execution to the result
  int64_t engine_us = 0;      ///< of which the engine ran (generation and encoding), for benchmarks
  std::string device;         ///< the executor (device) that ran the job; empty until it started
  int32_t batch_jobs = 0;     ///< how many jobs shared its run (1 = alone; 0 = not run)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job_result& x) {
  return f(caf::meta::type_name("sdw::job_result"), x.id, x.status, x.output_json, x.error, x.delay_ms,
           x.execution_ms, x.engine_us, x.device, x.batch_jobs);
}

/// A job that failed with `error` (kind, field, message).
inline job_result failed_job(std::string id, job_error error) {
  job_result r;
  r.id = std::move(id);
  r.status = job_status::failed;
  r.error = std::move(error);
  return r;
}

/// One txt2img job, validated where it came in (HTTP front, RunPod poller): the typed request and
/// the options it runs with, so nothing downstream reads its JSON again.
struct generation_job {
  std::string id;
  txt2img_request request;
  /// Defaults, then the A1111 options stored when the job came in, then its override_settings.
  sdw::options settings;
  job_options options;
  /// Set when the body was a well-formed RunPod job whose input is not a valid request: RunPod's
  /// API accepts it and the job fails (and fails again on /retry).
  std::optional<job_error> rejected;
  /// Set when the job named an A1111 call that is not a generation (options, listings, extras, ...),
  /// answered where it came in: the scheduler records this result at once (and again on /retry).
  std::optional<job_result> answered;
  /// The checkpoint file it runs, resolved at the edge from `settings.sd_model_checkpoint`
  /// (empty: the worker's startup model).
  std::string checkpoint;
  /// The VAE file it runs with, resolved from `settings.sd_vae` (empty: the checkpoint's own).
  std::string vae;
  /// Hires fix's `hr_checkpoint_name` and the refiner, resolved (no title: not named): the
  /// checkpoint files the job switches to, their VAE files and short titles for the infotext.
  switch_choice hires;
  switch_choice refiner;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, switch_choice& x) {
  return f(caf::meta::type_name("sdw::switch_choice"), x.checkpoint, x.vae, x.title);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, generation_job& x) {
  return f(caf::meta::type_name("sdw::generation_job"), x.id, x.request, x.settings, x.options,
           optional_of(x.rejected), optional_of(x.answered), x.checkpoint, x.vae, x.hires, x.refiner);
}

/// The model a job runs as placement and batching compare it: checkpoint and VAE.
inline std::string model_key(const generation_job& job) {
  return job.checkpoint.empty() && job.vae.empty() ? std::string() : job.checkpoint + "|" + job.vae;
}

/// Sampling progress of a running job: `step` of `steps` sampler steps done (over all of its
/// `iterations` n_iter batches), when it started (Unix time in milliseconds), and its A1111
/// interrupt and skip flags as they stood.
struct job_progress {
  std::string id;
  int32_t step = 0;
  int32_t steps = 0;
  int32_t iterations = 1;
  int64_t started_unix_ms = 0;
  bool interrupted = false;
  bool skipped = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job_progress& x) {
  return f(caf::meta::type_name("sdw::job_progress"), x.id, x.step, x.steps, x.iterations, x.started_unix_ms,
           x.interrupted, x.skipped);
}

/// One generated image: 8-bit RGB rows, top to bottom, and its infotext.
struct image_frame {
  int32_t width = 0;
  int32_t height = 0;
  std::vector<uint8_t> pixels;
  std::string infotext;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, image_frame& x) {
  return f(caf::meta::type_name("sdw::image_frame"), x.width, x.height, x.pixels, x.infotext);
}

/// What the executor made of a job: the images and the `info` JSON, or the error.
struct generation_output {
  generation_job job;
  bool ok = false;
  job_error error;
  std::vector<image_frame> images;
  std::string info_json;
  std::vector<int64_t> all_seeds;
  std::vector<int64_t> all_subseeds;
  int64_t engine_us = 0;  ///< how long the executor ran the job
  int64_t model_bytes = 0;        ///< weights the executor's model cache holds after the run
  std::vector<std::string> cached_models;  ///< the checkpoints it holds then, most recently used first
  int64_t device_allocated = -1;  ///< CUDA: tensor bytes allocated after the run; -1 on other devices
  int64_t device_peak = -1;       ///< CUDA: the most allocated during the run; -1 on other devices
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, generation_output& x) {
  return f(caf::meta::type_name("sdw::generation_output"), x.job, x.ok, x.error, x.images, x.info_json,
           x.all_seeds, x.all_subseeds, x.engine_us, x.model_bytes, x.cached_models, x.device_allocated,
           x.device_peak);
}

/// The flags that stop a running job. The executor is busy inside the sampler while a job runs
/// and reads no messages, so the scheduler sets these shared flags instead; local only.
struct cancel_token {
  /// Cancel: the job ends as CANCELLED without images.
  std::shared_ptr<std::atomic<bool>> flag = std::make_shared<std::atomic<bool>>(false);
  /// A1111 interrupt: the job ends early with the images decoded from the latents reached so far.
  std::shared_ptr<std::atomic<bool>> interrupt = std::make_shared<std::atomic<bool>>(false);
  /// A1111 skip: the current n_iter batch ends early; the pipeline clears the flag when it has.
  std::shared_ptr<std::atomic<bool>> skip = std::make_shared<std::atomic<bool>>(false);
};

} // namespace sdw

/// A cancel_token shares an in-process flag; it never leaves the process.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(sdw::cancel_token)
/// One cancel_token per member of a batch sent to an executor.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<sdw::cancel_token>)
