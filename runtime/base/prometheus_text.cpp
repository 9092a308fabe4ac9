#include "runtime/base/prometheus_text.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace sdw {

std::string escape_label_value(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

std::string metric_number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) return std::to_string(static_cast<int64_t>(value));
  // The fewest digits that read back as the same double.
  char buffer[32];
  for (int digits = 6; digits <= 17; ++digits) {
    std::snprintf(buffer, sizeof buffer, "%.*g", digits, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  return buffer;
}

namespace {

std::string label_text(const metric_labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    out += (i ? "," : "") + labels[i].first + "=\"" + escape_label_value(labels[i].second) + "\"";
  }
  return out + "}";
}

} // namespace

void prometheus_text::family(const std::string& name, const char* type, const std::string& help) {
  // HELP text escapes backslash and line feed only.
  std::string h;
  for (char c : help) {
    h += c == '\\' ? std::string("\\\\") : c == '\n' ? std::string("\\n") : std::string(1, c);
  }
  out_ += "# HELP " + name + " " + h + "\n# TYPE " + name + " " + type + "\n";
}

void prometheus_text::sample(const std::string& name, double value, const metric_labels& labels) {
  out_ += name + label_text(labels) + " " + metric_number(value) + "\n";
}

void prometheus_text::histogram(const std::string& name, const std::vector<double>& bounds,
                                const std::vector<int64_t>& counts, double sum, const metric_labels& labels) {
  int64_t cumulative = 0;
  for (size_t i = 0; i <= bounds.size(); ++i) {
    cumulative += i < counts.size() ? counts[i] : 0;
    metric_labels with = labels;
    with.emplace_back("le", i < bounds.size() ? metric_number(bounds[i]) : "+Inf");
    sample(name + "_bucket", static_cast<double>(cumulative), with);
  }
  sample(name + "_sum", sum, labels);
  sample(name + "_count", static_cast<double>(cumulative), labels);
}

} // namespace sdw
