#pragma once
/// Prometheus' text exposition format (version 0.0.4): metric families with their HELP and
/// TYPE lines, samples with escaped label values, histograms as cumulative `le` buckets.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace sdw {

using metric_labels = std::vector<std::pair<std::string, std::string>>;

/// The Content-Type a scraper expects for this format.
inline constexpr const char* prometheus_content_type = "text/plain; version=0.0.4; charset=utf-8";

class prometheus_text {
public:
  /// Starts a family: `type` is "counter", "gauge" or "histogram". Its samples follow.
  void family(const std::string& name, const char* type, const std::string& help);
  void sample(const std::string& name, double value, const metric_labels& labels = {});
  /// A histogram's samples from per-bucket counts (`counts` has one more entry than `bounds`: the
  /// +Inf bucket): name_bucket{le=...} cumulative, name_sum, name_count.
  void histogram(const std::string& name, const std::vector<double>& bounds, const std::vector<int64_t>& counts,
                 double sum, const metric_labels& labels = {});

  const std::string& text() const noexcept { return out_; }

private:
  std::string out_;
};

/// A label value with backslash, double quote and line feed escaped as the format asks.
std::string escape_label_value(const std::string& value);

/// A sample value: integers without a fraction, others in the shortest exact form, +Inf/-Inf/NaN.
std::string metric_number(double value);

} // namespace sdw
