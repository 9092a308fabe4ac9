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

bool usable(const device_slot& s) { return usable(s.stats.state); }

double time_scale_of(const device_slot& s) { return s.device.time_scale > 0 ? s.device.time_scale : 1.0; }

/// The speed factor placement uses for this device: learned from its batches, or configured.
double slot_speed(const device_slot& s) {
  const double configured = s.device.costs.speed;
  return placement_speed(configured, s.speed.speed(configured), s.device.calibrate);
}

/// The device's cost model in wall time at its placement speed, so that estimates, busy-until
/// times and the measured batch times that correct them share one clock.
cost_model wall_costs(const device_slot& s) {
  cost_model m = s.device.costs;
  m.speed = slot_speed(s) / time_scale_of(s);
  return m;
}

/// The shape of a batch of these queued or running jobs.
job_shape shape_of(const std::unordered_map<std::string, job_record>& jobs, const std::vector<std::string>& ids,
                   int max_batch) {
  std::vector<job_plan> plans;
  std::vector<size_t> members;
  for (const auto& id : ids) {
    members.push_back(plans.size());
    plans.push_back(jobs.at(id).plan);
  }
  return batch_shape(plans, members, max_batch);
}

/// What a finished job holds in memory: its answer (images are most of it) and, for a job that
/// may run again (/retry), its request's pictures and prompts.
size_t kept_bytes(const job_record& rec) {
  const auto& q = rec.job.request;
  size_t n = 1024 + rec.result.output_json.size() + rec.result.error.message.size() + q.prompt.size() +
             q.negative_prompt.size() + q.hr_prompt.size() + q.hr_negative_prompt.size();
  for (const auto* text : {&q.mask, &q.firstpass_image}) {
    n += text->has_value() ? (*text)->size() : 0;
  }
  if (q.init_images_text) {
    for (const auto& image : *q.init_images_text) {
      n += image.size();
    }
  }
  return n;
}

} // namespace

std::vector<placement_device> scheduler_state::placement_view(clock_type::time_point now) const {
  std::vector<placement_device> out;
  for (const auto& s : devices) {
    placement_device p;
    p.usable = usable(s);
    p.holds_model = s.holds_model;
    p.model = s.model;
    p.running = !s.running.empty();
    // A batch that overran its estimate still counts as ending now, not in the past.
    p.free_in_ms = p.running ? std::max(0.0, std::chrono::duration<double, std::milli>(s.busy_until - now).count()) : 0.0;
    p.costs = wall_costs(s);
    out.push_back(p);
  }
  return out;
}

void scheduler_state::dispatch() {
  if (model != model_state::ready) {
    return;
  }
  std::vector<job_plan> plans;
  for (const auto& id : queue) {
    plans.push_back(jobs.at(id).plan);
  }
  const auto starts = plan_dispatch(placement_view(clock_type::now()), plans, limits.max_batch);
  if (starts.empty()) {
    return;
  }
  std::vector<bool> started(queue.size(), false);
  std::vector<std::pair<size_t, std::vector<std::string>>> batches;
  for (const auto& s : starts) {
    std::vector<std::string> ids;
    for (size_t i : s.members) {
      ids.push_back(queue[i]);
      started[i] = true;
    }
    batches.emplace_back(s.device, std::move(ids));
  }
  std::deque<std::string> waiting;
  for (size_t i = 0; i < queue.size(); ++i) {
    if (!started[i]) {
      waiting.push_back(queue[i]);
    }
  }
  queue = std::move(waiting);
  for (auto& [d, ids] : batches) {
    start_batch(d, std::move(ids));
  }
}

void scheduler_state::start_batch(size_t d, std::vector<std::string> ids) {
  device_slot& slot = devices[d];
  const auto now = clock_type::now();
  std::vector<generation_job> batch;
  std::vector<cancel_token> tokens;
  const job_shape shape = shape_of(jobs, ids, limits.max_batch);
  if (const generation_job& lead = jobs.at(ids.front()).job; !model_key(lead).empty()) {
    slot.model = model_key(lead);
    slot.stats.model = lead.checkpoint;
  }
  for (const auto& id : ids) {
    job_record& rec = jobs.at(id);
    rec.phase = job_phase::running;
    rec.started = now;
    rec.result.status = job_status::in_progress;
    rec.result.delay_ms = ms_between(rec.submitted, now);
    rec.result.device = slot.device.name;
    rec.result.batch_jobs = static_cast<int32_t>(ids.size());
    slot.stats.images += rec.plan.images;
    batch.push_back(rec.job);
    tokens.push_back(rec.token);
  }
  stats.in_progress += static_cast<int32_t>(ids.size());
  slot.stats.jobs += static_cast<int64_t>(ids.size());
  slot.stats.batches += 1;
  slot.stats.running = static_cast<int32_t>(ids.size());
  slot.stats.state = device_state::busy;
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
              o.error = job_error{errc::internal, "", "executor: " + me->system().render(err)};
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
    slot.speed.observe(job_ms(unit, shape_of(jobs, ids, limits.max_batch)), took_ms / time_scale_of(slot));
    slot.stats.calibrated_speed = slot_speed(slot);
  }
  slot.running.clear();
  slot.stats.running = 0;
  slot.stats.busy_ms += static_cast<int64_t>(took_ms);
  if (!outs.empty()) {
    // The executor's memory after the batch (the same in every output of it).
    slot.stats.model_bytes = outs.front().model_bytes;
    slot.stats.cached_models = outs.front().cached_models;
    slot.stats.memory_allocated = outs.front().device_allocated;
    slot.stats.memory_peak = outs.front().device_peak;
  }
  if (slot.stats.state == device_state::busy) {
    slot.stats.state = device_state::idle;
  }
  // Jobs whose executor host went away go back to the head of the queue, in their order.
  std::vector<bool> requeued(ids.size(), false);
  for (size_t i = std::min(ids.size(), outs.size()); i-- > 0;) {
    if (!outs[i].ok && outs[i].error.kind == errc::executor_lost) {
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
      finish(id, failed_job(id, {errc::internal, "", "executor: no output for this job"}));
      continue;
    }
    me->request(encoder, encoder_timeout, encode_atom::value, std::move(outs[i]))
      .then([me, id](job_result& r) { me->state.finish(id, std::move(r)); },
            [me, id](caf::error& err) { me->state.finish(id, failed_job(id, {errc::internal, "", "encoder: " + me->system().render(err)})); });
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
    stats.queue_wait.observe(static_cast<double>(result.delay_ms) / 1000.0);
    stats.execution.observe(std::chrono::duration<double>(now - rec.started).count());
    result.device = rec.result.device;
    result.batch_jobs = rec.result.batch_jobs;
  }
  if (rec.result.status == job_status::cancelled) {
    // A cancel that came while the job ran wins, even if the last step had already passed.
    result.status = job_status::cancelled;
    result.output_json.clear();
  }
  result.id = id;
  if (rec.phase != job_phase::done) {
    stats.end_to_end.observe(std::chrono::duration<double>(now - rec.submitted).count());
  }
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
    return;
  }
  if (rec.result.status == job_status::completed) {
    // A completed job is never run again: only its answer is worth keeping.
    rec.job.request = txt2img_request{};
    rec.job.settings = sdw::options{};
  }
  forget(finished.keep(id, kept_bytes(rec), now));
}

void scheduler_state::forget(const std::vector<std::string>& ids) {
  for (const auto& id : ids) {
    jobs.erase(id);
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
