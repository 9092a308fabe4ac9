#include "actors/scheduler.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace sdw {
namespace {

using clock_type = std::chrono::steady_clock;

int64_t ms_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

/// How long a batch may run at the executor, and a job be encoded, before it counts as lost.
constexpr auto executor_timeout = std::chrono::seconds(24 * 3600);
constexpr auto encoder_timeout = std::chrono::seconds(600);

/// What placing a job on a device that must first load its model adds to the estimate. One model
/// today, so it never applies; a model cache would make it the load time.
constexpr double model_switch_ms = 10000.0;

bool usable(const device_slot& s) { return s.stats.state == "idle" || s.stats.state == "busy"; }

double time_scale_of(const device_slot& s) { return s.device.time_scale > 0 ? s.device.time_scale : 1.0; }

/// A learned speed within this fraction of the configured one counts as the configured one. Fixed
/// overheads and timer noise make every measured device a little slower than its cost model, and
/// that alone must not make a device not yet tried (still at its configured speed) look faster
/// than the tried ones it is told to equal.
constexpr double calibration_deadband = 0.1;

/// The speed factor placement uses: learned from the device's batches, or the configured one.
double placement_speed(const device_slot& s) {
  const double configured = s.device.costs.speed;
  if (!s.device.calibrate) {
    return configured;
  }
  const double learned = s.speed.speed(configured);
  return std::abs(learned / configured - 1.0) <= calibration_deadband ? configured : learned;
}

/// The device's cost model in wall time at its placement speed, so that estimates, busy-until
/// times and the measured batch times that correct them share one clock.
cost_model wall_costs(const device_slot& s) {
  cost_model m = s.device.costs;
  m.speed = placement_speed(s) / time_scale_of(s);
  return m;
}

/// The shape of a batch of these queued or running jobs: the first one's size and steps, every
/// member's images per UNet call.
job_shape batch_shape(const std::unordered_map<std::string, job_record>& jobs, const std::vector<std::string>& ids) {
  job_shape shape = jobs.at(ids.front()).plan.shape;
  shape.batch = 0;
  for (const auto& id : ids) {
    shape.batch += jobs.at(id).plan.shape.batch;
  }
  return shape;
}

} // namespace

double scheduler_state::finish_ms(size_t d, const job_plan& plan, double free_in_ms) const {
  const device_slot& s = devices[d];
  return free_in_ms + job_ms(wall_costs(s), plan.shape) + (s.holds_model ? 0.0 : model_switch_ms);
}

int scheduler_state::place(const job_plan& plan, clock_type::time_point now) const {
  std::vector<double> free_in(devices.size(), 0.0);
  for (size_t d = 0; d < devices.size(); ++d) {
    // A batch that overran its estimate still counts as ending now, not in the past.
    free_in[d] = devices[d].running.empty()
                   ? 0.0
                   : std::max(0.0, std::chrono::duration<double, std::milli>(devices[d].busy_until - now).count());
  }
  return best_device(plan, free_in);
}

int scheduler_state::best_device(const job_plan& plan, const std::vector<double>& free_in) const {
  int best = -1;
  double best_finish = std::numeric_limits<double>::infinity();
  bool best_idle = false;
  for (size_t d = 0; d < devices.size(); ++d) {
    if (!usable(devices[d])) {
      continue;
    }
    const bool idle = devices[d].running.empty() && free_in[d] <= 0.0;
    const double finish = finish_ms(d, plan, free_in[d]);
    // Ties go to an idle device, then to the first one listed.
    if (finish < best_finish - 1e-9 || (std::abs(finish - best_finish) <= 1e-9 && idle && !best_idle)) {
      best = static_cast<int>(d);
      best_finish = finish;
      best_idle = idle;
    }
  }
  return best;
}

std::vector<std::string> scheduler_state::batch_from(size_t pos) const {
  std::vector<std::string> ids{queue[pos]};
  const job_plan& lead = jobs.at(queue[pos]).plan;
  if (!lead.key) {
    return ids;
  }
  int images = lead.images;
  for (size_t i = pos + 1; i < queue.size() && images < limits.max_batch; ++i) {
    const job_plan& p = jobs.at(queue[i]).plan;
    if (p.key == lead.key && images + p.images <= limits.max_batch) {
      ids.push_back(queue[i]);
      images += p.images;
    }
  }
  return ids;
}

void scheduler_state::dispatch() {
  if (model_state != "ready") {
    return;
  }
  // List scheduling in queue order: each queued job in turn is planned on the device where it
  // would finish first, after the jobs planned before it. A job whose device is idle starts now
  // (with the compatible jobs behind it as one batch); one whose best device is busy waits for
  // it, and jobs behind it may still start on devices that are free. No job is ever planned
  // behind a later one, so none starves, however many batchable jobs keep coming.
  const auto now = clock_type::now();
  std::vector<double> free_in(devices.size(), 0.0);
  for (size_t d = 0; d < devices.size(); ++d) {
    free_in[d] = devices[d].running.empty()
                   ? 0.0
                   : std::max(0.0, std::chrono::duration<double, std::milli>(devices[d].busy_until - now).count());
  }
  // Planning further than a few jobs per device changes nothing that starts now.
  const size_t horizon = 4 * devices.size() + 4;
  size_t pos = 0;
  for (size_t planned = 0; pos < queue.size() && planned < horizon; ++planned) {
    const job_plan& plan = jobs.at(queue[pos]).plan;
    const int d = best_device(plan, free_in);
    if (d < 0) {
      return;
    }
    if (!devices[d].running.empty() || free_in[d] > 0.0) {
      free_in[d] = finish_ms(d, plan, free_in[d]);
      ++pos;
      continue;
    }
    std::vector<std::string> ids = batch_from(pos);
    queue.erase(std::remove_if(queue.begin() + static_cast<std::ptrdiff_t>(pos), queue.end(),
                               [&ids](const std::string& q) { return std::find(ids.begin(), ids.end(), q) != ids.end(); }),
                queue.end());
    start_batch(static_cast<size_t>(d), std::move(ids));
    free_in[d] = std::max(0.0, std::chrono::duration<double, std::milli>(devices[d].busy_until - now).count());
  }
}

void scheduler_state::start_batch(size_t d, std::vector<std::string> ids) {
  device_slot& slot = devices[d];
  const auto now = clock_type::now();
  std::vector<generation_job> batch;
  std::vector<cancel_token> tokens;
  const job_shape shape = batch_shape(jobs, ids);
  for (const auto& id : ids) {
    job_record& rec = jobs.at(id);
    rec.phase = job_phase::running;
    rec.started = now;
    rec.result.status = job_status::in_progress;
    rec.result.delay_ms = ms_between(rec.submitted, now);
    rec.result.device = slot.device.name;
    rec.result.batch_jobs = static_cast<int32_t>(ids.size());
    rec.job.settings_json = settings_json;
    slot.stats.images += rec.plan.images;
    batch.push_back(rec.job);
    tokens.push_back(rec.token);
  }
  stats.in_progress += static_cast<int32_t>(ids.size());
  slot.stats.jobs += static_cast<int64_t>(ids.size());
  slot.stats.batches += 1;
  slot.stats.running = static_cast<int32_t>(ids.size());
  slot.stats.state = "busy";
  slot.batch_started = now;
  slot.busy_until = now + std::chrono::duration_cast<clock_type::duration>(
                            std::chrono::duration<double, std::milli>(job_ms(wall_costs(slot), shape)));
  slot.running = ids;
  if (ids.size() > 1) {
    spdlog::debug("batch of {} jobs on {}", ids.size(), slot.device.name);
  }
  auto* me = self;
  me->request(slot.device.executor, executor_timeout, run_atom::value, std::move(batch), std::move(tokens))
    .then([me, d, ids](std::vector<generation_output>& outs) { me->state.batch_done(d, ids, std::move(outs)); },
          [me, d, ids](caf::error& err) {
            std::vector<generation_output> outs(ids.size());
            for (auto& o : outs) {
              o.error = job_error{"internal", "", "executor: " + me->system().render(err)};
            }
            me->state.batch_done(d, ids, std::move(outs));
          });
  report();
}

void scheduler_state::batch_done(size_t d, const std::vector<std::string>& ids, std::vector<generation_output> outs) {
  device_slot& slot = devices[d];
  const double took_ms = std::chrono::duration<double, std::milli>(clock_type::now() - slot.batch_started).count();
  const bool all_ok =
    !ids.empty() && outs.size() == ids.size() &&
    std::all_of(outs.begin(), outs.end(), [](const generation_output& o) { return o.ok; }) &&
    std::all_of(ids.begin(), ids.end(), [this](const std::string& id) {
      auto it = jobs.find(id);
      return it != jobs.end() && !it->second.token.flag->load() && !it->second.token.interrupt->load() &&
             !it->second.token.skip->load();
    });
  if (all_ok) {
    // Only whole, successful batches say how fast the device is: an error, a cancelled member or
    // an interrupt or skip ends a batch early. The estimate at speed 1 against the time taken (in model time) is the
    // device's speed for this batch.
    cost_model unit = slot.device.costs;
    unit.speed = 1.0;
    slot.speed.observe(job_ms(unit, batch_shape(jobs, ids)), took_ms / time_scale_of(slot));
    slot.stats.calibrated_speed = placement_speed(slot);
  }
  slot.running.clear();
  slot.stats.running = 0;
  slot.stats.busy_ms += static_cast<int64_t>(took_ms);
  if (slot.stats.state == "busy") {
    slot.stats.state = "idle";
  }
  // Jobs whose executor host went away go back to the head of the queue, in their order.
  std::vector<bool> requeued(ids.size(), false);
  for (size_t i = std::min(ids.size(), outs.size()); i-- > 0;) {
    if (!outs[i].ok && outs[i].error.kind == "executor_lost") {
      requeued[i] = requeue_lost(ids[i]);
    }
  }
  // The next batch starts while this one is encoded.
  dispatch();
  auto* me = self;
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string id = ids[i];
    if (requeued[i]) {
      continue;
    }
    if (i >= outs.size()) {
      finish(id, failed_job(id, {"internal", "", "executor: no output for this job"}));
      continue;
    }
    me->request(encoder, encoder_timeout, encode_atom::value, std::move(outs[i]))
      .then([me, id](job_result& r) { me->state.finish(id, std::move(r)); },
            [me, id](caf::error& err) { me->state.finish(id, failed_job(id, {"internal", "", "encoder: " + me->system().render(err)})); });
  }
  report();
}

bool scheduler_state::requeue_lost(const std::string& id) {
  // A job that took its host down three times may be what brings hosts down.
  constexpr int max_lost_runs = 3;
  auto it = jobs.find(id);
  if (it == jobs.end() || it->second.result.status == job_status::cancelled ||
      ++it->second.lost_runs >= max_lost_runs) {
    return false;
  }
  job_record& rec = it->second;
  rec.phase = job_phase::queued;
  rec.result.status = job_status::in_queue;
  rec.result.device.clear();
  --stats.in_progress;
  queue.push_front(id);
  spdlog::info("job {} queued again: its executor host went away", id);
  return true;
}

void scheduler_state::finish(const std::string& id, job_result result) {
  auto it = jobs.find(id);
  if (it == jobs.end()) {
    return;
  }
  job_record& rec = it->second;
  const auto now = clock_type::now();
  if (rec.phase == job_phase::running) {
    --stats.in_progress;
    result.delay_ms = rec.result.delay_ms;
    result.execution_ms = ms_between(rec.started, now);
    result.device = rec.result.device;
    result.batch_jobs = rec.result.batch_jobs;
  }
  if (rec.result.status == job_status::cancelled) {
    // A cancel that came while the job ran wins, even if the last step had already passed.
    result.status = job_status::cancelled;
    result.output_json.clear();
  }
  result.id = id;
  rec.phase = job_phase::done;
  rec.result = std::move(result);
  if (rec.result.status == job_status::completed) {
    ++stats.completed;
  } else if (rec.result.status == job_status::cancelled) {
    ++stats.cancelled;
  } else {
    ++stats.failed;
  }
  // Health hears first, so a client that gets its answer and then asks /health sees this job.
  report();
  const bool answered = !rec.waiters.empty();
  for (auto& w : rec.waiters) {
    w.deliver(rec.result);
  }
  rec.waiters.clear();
  if (!rec.job.options.keep_result && answered) {
    jobs.erase(it);
  } else {
    finished.push_back(id);
    while (finished.size() > kept_results) {
      jobs.erase(finished.front());
      finished.pop_front();
    }
  }
}

void scheduler_state::report() {
  stats.in_queue = static_cast<int32_t>(queue.size());
  stats.capacity = static_cast<int32_t>(limits.capacity);
  stats.devices.clear();
  for (const auto& slot : devices) {
    stats.devices.push_back(slot.stats);
  }
  self->send(health, queue_atom::value, stats);
}

} // namespace sdw
