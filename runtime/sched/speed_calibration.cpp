#include "runtime/sched/speed_calibration.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace sdw {

speed_calibration::speed_calibration(size_t window) : window_(std::max<size_t>(3, window)) {}

void speed_calibration::observe(double model_ms, double measured_ms) {
  if (!(model_ms > 0) || !(measured_ms > 0) || !std::isfinite(model_ms) || !std::isfinite(measured_ms)) {
    return;
  }
  latest_.push_back(model_ms / measured_ms);
  ++count_;
  while (latest_.size() > window_) {
    latest_.pop_front();
  }
}

double speed_calibration::speed(double configured) const {
  std::vector<double> v(latest_.begin(), latest_.end());
  // The configured factor stands in for missing samples, so the estimate starts there and a lone
  // first sample is outvoted until a second one agrees with it.
  while (v.size() < 3) {
    v.push_back(configured);
  }
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

} // namespace sdw
