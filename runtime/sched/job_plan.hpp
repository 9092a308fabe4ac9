#pragma once
/// What the scheduler reads from a job's body once, when it arrives: the shape of its work
/// (for the cost model's placement) and the key that says which jobs may run as one batch.

#include "runtime/sched/cost_model.hpp"

#include <optional>
#include <string>

namespace sdw {

struct txt2img_request;
struct options;

/// A job's work as placement and batching see it.
struct job_plan {
  job_shape shape;                 ///< size, steps, images per UNet call, n_iter batches
  int images = 1;                  ///< images the job asks for (batch_size × n_iter)
  std::optional<std::string> key;  ///< jobs with equal keys may share a batch; none = always alone
  std::string model;               ///< the checkpoint and VAE it runs ("" = the worker's startup model)
};

/// The batch key of a request and the options it runs with (resolved: defaults, stored options,
/// override_settings): equal keys = the same size, steps, sampler, scheduler, sampling parameters
/// and every option the shared sampling loop reads (model, VAE, sigmas, eta, s_*, UniPC, ...) and
/// the prompt's LoRA tags (names and multipliers),
/// so the jobs can share UNet calls. What each member keeps for itself does not count: prompts,
/// CFG scale, seeds, RNG source, ENSD, CLIP skip, emphasis and how its images are written.
/// std::nullopt for a job that must run alone (hires fix, refiner, scripts, tiling or face
/// restoration). A job's n_iter batches share sampling runs with each other and with other jobs. The executor's batch key has the last word: jobs this key groups that still
/// cannot share a UNet call run one after another in the same executor batch.
/// `model` names the checkpoint and VAE the job runs, as resolved from its options at the edge
/// (the option values themselves, aliases of one file among them, do not count).
std::optional<std::string> scheduler_batch_key(const txt2img_request& request, const options& settings,
                                               const std::string& model = {});

/// The plan of a checked request, its resolved options and the model it runs.
job_plan plan_job(const txt2img_request& request, const options& settings, const std::string& model = {});

} // namespace sdw
