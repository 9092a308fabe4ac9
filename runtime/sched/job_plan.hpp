#pragma once
/// What the scheduler reads from a job's body once, when it arrives: the shape of its work
/// (for the cost model's placement) and the key that says which jobs may run as one batch.

#include "runtime/sched/cost_model.hpp"

#include <optional>
#include <string>

namespace sdw {

struct txt2img_request;

/// A job's work as placement and batching see it.
struct job_plan {
  job_shape shape;                 ///< size, steps, images per UNet call, n_iter batches
  int images = 1;                  ///< images the job asks for (batch_size × n_iter)
  std::optional<std::string> key;  ///< jobs with equal keys may share a batch; none = always alone
};

/// The batch key of a parsed request: equal keys = the same size, steps, sampler, scheduler,
/// sampling options and override_settings (but for the overrides each member keeps for itself:
/// CLIP skip, emphasis and how its images are written), so the jobs can share UNet calls.
/// std::nullopt for a job that must run alone (n_iter > 1, hires fix, refiner, scripts, tiling or
/// face restoration). The executor's batch key has the last word: jobs this key groups that still
/// cannot share a UNet call run one after another in the same executor batch.
std::optional<std::string> scheduler_batch_key(const txt2img_request& request);

/// The plan of a job body (an A1111 body or a RunPod job); a body that does not parse gets the
/// default shape and no key (it runs alone, and the executor reports its error).
job_plan plan_job(const std::string& body);

} // namespace sdw
