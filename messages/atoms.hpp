#pragma once
/// The atoms that name the requests between sdworker's actors (CAF 0.17: at most 10 characters).

#include <caf/atom.hpp>

namespace sdw {

/// scheduler: take a new job.
using submit_atom = caf::atom_constant<caf::atom("submit")>;
/// scheduler: answer when a job has finished.
using wait_atom = caf::atom_constant<caf::atom("wait")>;
/// scheduler: the current state of a job.
using status_atom = caf::atom_constant<caf::atom("status")>;
/// scheduler: cancel a queued or running job.
using cancel_atom = caf::atom_constant<caf::atom("cancel")>;
/// scheduler: end the running job early, keeping the images decoded so far (A1111 /interrupt).
using interrupt_atom = caf::atom_constant<caf::atom("interrupt")>;
/// scheduler: end the current image of the running job's n_iter batch (A1111 /skip).
using skip_atom = caf::atom_constant<caf::atom("skip")>;
/// scheduler: requeue a FAILED or CANCELLED job with its id and input.
using retry_atom = caf::atom_constant<caf::atom("retry")>;
/// scheduler: remove every queued job.
using purge_atom = caf::atom_constant<caf::atom("purge")>;
/// scheduler: the stored A1111 options that jobs starting from now run with.
using options_atom = caf::atom_constant<caf::atom("options")>;
/// executor: run one job.
using run_atom = caf::atom_constant<caf::atom("run")>;
/// encoder: turn generated images into the response JSON.
using encode_atom = caf::atom_constant<caf::atom("encode")>;
/// executor: here is the model to run.
using model_atom = caf::atom_constant<caf::atom("model")>;
/// scheduler, executors: let go of the models a device holds (A1111's unload-checkpoint) / load
/// the startup checkpoint again (reload-checkpoint).
using unload_atom = caf::atom_constant<caf::atom("unload")>;
using reload_atom = caf::atom_constant<caf::atom("reload")>;
/// scheduler: the model is loaded (or failed to load).
using ready_atom = caf::atom_constant<caf::atom("ready")>;
/// scheduler: a device went away (a remote executor host lost); its jobs come back to the queue.
using offline_atom = caf::atom_constant<caf::atom("offline")>;
/// a periodic timer fired: the remote executor looks at stop flags and the host's health, the
/// RunPod poller at readiness and progress, the heartbeat pings.
using tick_atom = caf::atom_constant<caf::atom("tick")>;
/// health: a model-load or job progress report.
using progress_atom = caf::atom_constant<caf::atom("progress")>;
/// health: the queue counters changed.
using queue_atom = caf::atom_constant<caf::atom("queue")>;
/// health: the model's state changed.
using state_atom = caf::atom_constant<caf::atom("state")>;
/// health: the full report.
using report_atom = caf::atom_constant<caf::atom("report")>;
using checkpoints_atom = caf::atom_constant<caf::atom("ckpts")>;
/// Options keeper: resolve a job's options and model; list the VAE files.
using resolve_atom = caf::atom_constant<caf::atom("resolve")>;
using vae_atom = caf::atom_constant<caf::atom("vae")>;

} // namespace sdw
