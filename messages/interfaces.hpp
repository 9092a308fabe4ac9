#pragma once
/// The typed interfaces of sdworker's actors (who may send what, and what comes back).

#include "messages/atoms.hpp"
#include "messages/errors.hpp"
#include "messages/health.hpp"
#include "messages/jobs.hpp"
#include "messages/model.hpp"

#include <caf/all.hpp>

#include <string>
#include <vector>

namespace sdw {

/// health: collects the model state, load progress, queue counters and job progress; answers
/// /health. Everyone reports to it; nobody waits on it but the front door. interrupt and skip
/// (from the scheduler) set A1111's state flags /progress shows.
using health_actor = caf::typed_actor<
  caf::reacts_to<state_atom, model_status>,
  caf::reacts_to<progress_atom, double, std::string>,
  caf::reacts_to<progress_atom, job_progress>,
  caf::reacts_to<queue_atom, queue_stats>,
  caf::reacts_to<interrupt_atom>,
  caf::reacts_to<skip_atom>,
  caf::replies_to<report_atom>::with<health_report>>;

/// Whoever hears that a model is loaded (or failed to load): the scheduler, or an executor host
/// serving another process. The index names the scheduler's device.
using ready_listener = caf::typed_actor<caf::reacts_to<ready_atom, bool, std::string>,
                                        caf::reacts_to<ready_atom, bool, std::string, int32_t>>;

/// executor: owns the model and runs one batch at a time on its own thread. A batch is jobs
/// the scheduler found compatible (one job alone is a batch of one), each with its own cancel
/// token; the answer has one output per job, in the same order. Given a model, it warms it up
/// on that thread (see warm_up) and answers "" when ready, else why it cannot generate. unload
/// lets go of every model it holds (the next job, or reload, loads the startup checkpoint again);
/// reload loads it now. Both answer the weights' bytes and the checkpoints held afterwards.
using executor_actor = caf::typed_actor<
  caf::replies_to<model_atom, loaded_model>::with<std::string>,
  caf::replies_to<run_atom, std::vector<generation_job>, std::vector<cancel_token>>::with<
    std::vector<generation_output>>,
  caf::replies_to<unload_atom>::with<int64_t, std::vector<std::string>>,
  caf::replies_to<reload_atom>::with<int64_t, std::vector<std::string>>>;

/// encoder: PNG + base64 + the A1111 response JSON for a finished generation.
using encoder_actor = caf::typed_actor<
  caf::replies_to<encode_atom, generation_output>::with<job_result>>;

/// scheduler: the bounded job queue. submit answers at once (IN_QUEUE) or with
/// sd_errc::queue_full; wait answers when the job is final; status, cancel and retry answer at
/// once (sd_errc::unknown_job for an unknown id, not_retryable for retrying a job that neither
/// failed nor was cancelled); purge answers how many queued jobs it removed; interrupt and skip
/// answer whether a job was running. unload and reload pass A1111's unload-checkpoint and
/// reload-checkpoint to every executor (after the batch each is running) and answer the bytes of
/// weights the devices hold afterwards.
/// ready says the model is loaded (or failed) on every device, or, with an index, on that one;
/// offline says device `index` went away (a lost executor host) until it says ready again.
using scheduler_actor = caf::typed_actor<
  caf::replies_to<submit_atom, generation_job>::with<job_result>,
  caf::replies_to<wait_atom, std::string>::with<job_result>,
  caf::replies_to<status_atom, std::string>::with<job_result>,
  caf::replies_to<cancel_atom, std::string>::with<job_result>,
  caf::replies_to<retry_atom, std::string>::with<job_result>,
  caf::replies_to<purge_atom>::with<int32_t>,
  caf::replies_to<interrupt_atom>::with<bool>,
  caf::replies_to<skip_atom>::with<bool>,
  caf::replies_to<unload_atom>::with<int64_t>,
  caf::replies_to<reload_atom>::with<int64_t>,
  caf::reacts_to<ready_atom, bool, std::string>,
  caf::reacts_to<ready_atom, bool, std::string, int32_t>,
  caf::reacts_to<offline_atom, std::string, int32_t>>;

/// options keeper: the A1111 options POST /sdapi/v1/options stored so far and the checkpoints and
/// VAEs the models folder holds, owned by one actor so that concurrent requests see them change in
/// order. get answers GET /sdapi/v1/options for the loaded checkpoint (title, sha256); options
/// with a POST body stores the merged options (the checkpoint named must be in the folder) and
/// answers the HTTP status and body; options alone answers the stored options resolved on top of
/// the defaults; resolve gives a job the options it runs with (stored, then its overrides) and the
/// checkpoint and VAE files they choose, or sets `rejected` saying what is wrong; checkpoints and
/// vae answer the /sd-models and /sd-vae bodies, reading the folder again when asked to.
using options_keeper_actor = caf::typed_actor<
  caf::replies_to<caf::get_atom, std::string, std::string>::with<std::string>,
  caf::replies_to<options_atom, std::string>::with<int32_t, std::string>,
  caf::replies_to<options_atom>::with<options>,
  caf::replies_to<resolve_atom, generation_job>::with<generation_job>,
  caf::replies_to<checkpoints_atom, bool>::with<std::string>,
  caf::replies_to<vae_atom, bool>::with<std::string>>;

/// Registers the message types that can be serialized (needed only across processes).
inline void add_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<job_options>("sdw::job_options");
  cfg.add_message_type<txt2img_request>("sdw::txt2img_request");
  cfg.add_message_type<options>("sdw::options");
  cfg.add_message_type<generation_job>("sdw::generation_job");
  cfg.add_message_type<job_error>("sdw::job_error");
  cfg.add_message_type<job_result>("sdw::job_result");
  cfg.add_message_type<job_progress>("sdw::job_progress");
  cfg.add_message_type<image_frame>("sdw::image_frame");
  cfg.add_message_type<generation_output>("sdw::generation_output");
  cfg.add_message_type<model_status>("sdw::model_status");
  cfg.add_message_type<device_stats>("sdw::device_stats");
  cfg.add_message_type<queue_stats>("sdw::queue_stats");
  cfg.add_message_type<health_report>("sdw::health_report");
  cfg.add_message_type<std::vector<generation_job>>("std::vector<sdw::generation_job>");
  cfg.add_message_type<std::vector<generation_output>>("std::vector<sdw::generation_output>");
}

} // namespace sdw
