#include "runtime/sched/placement.hpp"

#include <algorithm>

#include <cmath>
#include <limits>

namespace sdw {

double placement_speed(double configured, double learned, bool calibrate) {
  if (!calibrate) {
    return configured;
  }
  return std::abs(learned / configured - 1.0) <= calibration_deadband ? configured : learned;
}

namespace {

bool needs_switch(const placement_device& d, const std::string& model) {
  return !d.holds_model || (!model.empty() && !d.model.empty() && d.model != model);
}

} // namespace

double finish_ms(const placement_device& d, const job_shape& shape, const std::string& model) {
  return d.free_in_ms + job_ms(d.costs, shape) + (needs_switch(d, model) ? model_switch_ms : 0.0);
}

int best_device(const std::vector<placement_device>& devices, const job_shape& shape, const std::string& model) {
  int best = -1;
  double best_finish = std::numeric_limits<double>::infinity();
  bool best_idle = false;
  for (size_t d = 0; d < devices.size(); ++d) {
    if (!devices[d].usable) {
      continue;
    }
    const bool idle = !devices[d].running && devices[d].free_in_ms <= 0.0;
    const double finish = finish_ms(devices[d], shape, model);
    if (finish < best_finish - 1e-9 || (std::abs(finish - best_finish) <= 1e-9 && idle && !best_idle)) {
      best = static_cast<int>(d);
      best_finish = finish;
      best_idle = idle;
    }
  }
  return best;
}

std::vector<size_t> batch_members(const std::vector<job_plan>& queue, const std::vector<bool>& open, size_t lead,
                                  int max_batch) {
  std::vector<size_t> members{lead};
  const job_plan& first = queue[lead];
  if (!first.key) {
    return members;
  }
  int images = first.images;
  for (size_t i = lead + 1; i < queue.size() && images < max_batch; ++i) {
    if (open[i] && queue[i].key == first.key && images + queue[i].images <= max_batch) {
      members.push_back(i);
      images += queue[i].images;
    }
  }
  return members;
}

job_shape batch_shape(const std::vector<job_plan>& queue, const std::vector<size_t>& members, int max_batch) {
  job_shape shape = queue[members.front()].shape;
  int images = 0;
  int widest = 1;
  for (size_t i : members) {
    images += queue[i].shape.batch * queue[i].shape.batches;
    widest = std::max(widest, queue[i].shape.batch);
  }
  shape.batch = std::max(widest, std::min(images, max_batch));
  shape.batches = (images + shape.batch - 1) / shape.batch;
  return shape;
}

std::vector<batch_start> plan_dispatch(std::vector<placement_device> devices, const std::vector<job_plan>& queue,
                                       int max_batch) {
  std::vector<batch_start> starts;
  std::vector<bool> open(queue.size(), true);
  const size_t horizon = 4 * devices.size() + 4;
  size_t pos = 0;
  for (size_t planned = 0; planned < horizon; ++planned) {
    while (pos < queue.size() && !open[pos]) {
      ++pos;
    }
    if (pos >= queue.size()) {
      break;
    }
    const int d = best_device(devices, queue[pos].shape, queue[pos].model);
    if (d < 0) {
      break;
    }
    placement_device& dev = devices[static_cast<size_t>(d)];
    if (dev.running || dev.free_in_ms > 0.0) {
      // Planned behind what that device runs; the next job may start elsewhere.
      dev.free_in_ms = finish_ms(dev, queue[pos].shape, queue[pos].model);
      dev.model = queue[pos].model.empty() ? dev.model : queue[pos].model;
      ++pos;
      continue;
    }
    std::vector<size_t> members = batch_members(queue, open, pos, max_batch);
    for (size_t i : members) {
      open[i] = false;
    }
    dev.running = true;
    dev.free_in_ms = job_ms(dev.costs, batch_shape(queue, members, max_batch)) +
                     (needs_switch(dev, queue[pos].model) ? model_switch_ms : 0.0);
    dev.model = queue[pos].model.empty() ? dev.model : queue[pos].model;
    starts.push_back({static_cast<size_t>(d), std::move(members)});
  }
  return starts;
}

} // namespace sdw
