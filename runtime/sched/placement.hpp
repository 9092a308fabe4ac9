#pragma once
/// Placement and batch formation as plain functions: which queued jobs start now, together, on
/// which device. The scheduler actor gives them its devices and queue and carries out the answer;
/// tests call them with made-up devices and queues, no clock involved.

#include "runtime/sched/cost_model.hpp"
#include "runtime/sched/job_plan.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace sdw {

/// A learned speed within this fraction of the configured one counts as the configured one. Fixed
/// overheads and timer noise make every measured device a little slower than its cost model, and
/// that alone must not make a device not yet tried (still at its configured speed) look faster
/// than the tried ones it is told to equal.
constexpr double calibration_deadband = 0.1;

/// What placing a job on a device that must first load its model adds to the estimate.
constexpr double model_switch_ms = 10000.0;

/// The speed factor placement uses: the `learned` one when calibration is on and it is outside
/// the dead band around `configured`, else `configured`.
double placement_speed(double configured, double learned, bool calibrate);

/// A device as placement sees it.
struct placement_device {
  bool usable = true;       ///< idle or busy (not loading, offline or faulted)
  bool holds_model = true;  ///< else a model switch is added to its estimates
  std::string model;        ///< the model it last ran (job_plan::model); "" = not known yet
  bool running = false;     ///< a batch is at its executor
  double free_in_ms = 0.0;  ///< until the running batch is expected to end (0 when it has overrun)
  cost_model costs;         ///< in wall time, at its placement speed
};

/// When a job of `shape` running `model` queued now would end on `d`: after what it runs, plus the
/// job itself (and a model switch when it lacks the model, or last ran another one).
double finish_ms(const placement_device& d, const job_shape& shape, const std::string& model = {});

/// The usable device where a job of `shape` running `model` ends first; ties go to an idle
/// device, then to the first listed. -1 when none is usable.
int best_device(const std::vector<placement_device>& devices, const job_shape& shape, const std::string& model = {});

/// The jobs that run with queue[lead] as one batch: queue[lead] and, in queue order, the later
/// jobs among `open` with its key, while the images fit in `max_batch`. A job without a key runs
/// alone. Positions into `queue`.
std::vector<size_t> batch_members(const std::vector<job_plan>& queue, const std::vector<bool>& open, size_t lead,
                                  int max_batch);

/// The shape of a batch as the executor runs it: its first member's size and steps; every member's
/// n_iter batches share sampling runs of up to `max_batch` images (one n_iter batch always fits).
job_shape batch_shape(const std::vector<job_plan>& queue, const std::vector<size_t>& members, int max_batch = 64);

/// A batch to start now: the device and the queue positions of its jobs.
struct batch_start {
  size_t device;
  std::vector<size_t> members;
};

/// List scheduling in queue order: each queued job in turn is planned on the device where it
/// would finish first, after the jobs planned before it. A job whose device is idle starts now
/// (with the compatible jobs behind it as one batch); one whose best device is busy waits for it,
/// and jobs behind it may still start on devices that are free. No job is ever planned behind a
/// later one, so none starves, however many batchable jobs keep coming. Plans at most a few jobs
/// per device ahead: further changes nothing that starts now.
std::vector<batch_start> plan_dispatch(std::vector<placement_device> devices, const std::vector<job_plan>& queue,
                                       int max_batch);

} // namespace sdw
