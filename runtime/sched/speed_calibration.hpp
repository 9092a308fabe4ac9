#pragma once
/// A device's speed factor learned from the batches it has run: each batch gives one observed
/// factor (the cost model's time for its shape at speed 1 over the time it took), and the
/// estimate is the median of the latest ones. Until three batches have run, the configured factor
/// fills the missing samples, so the first estimate is the configured value and one batch alone
/// never moves it; a single outlier (a first batch that compiles kernels, a batch slowed by
/// another process) never moves it beyond its neighbouring samples.

#include <cstddef>
#include <deque>

namespace sdw {

/// The learned speed factor of one device (the cost model's `speed`: 2 = twice as fast).
class speed_calibration {
public:
  /// Keeps the latest `window` (at least 3) samples.
  explicit speed_calibration(size_t window = 9);

  /// Adds one batch: `model_ms` is the cost model's time for it at speed 1, `measured_ms` the
  /// time it took, both in the cost model's time. Non-positive or non-finite values are ignored.
  void observe(double model_ms, double measured_ms);

  /// The current estimate: the median of the latest samples, padded with `configured` (the
  /// device's configured factor) while there are fewer than three.
  double speed(double configured) const;

  /// Batches observed so far (all of them, not only those in the window).
  size_t samples() const { return count_; }

private:
  size_t window_;
  size_t count_ = 0;
  std::deque<double> latest_;
};

} // namespace sdw
