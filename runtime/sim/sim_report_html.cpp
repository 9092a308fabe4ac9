// The report's HTML page: a table of figures and two inline SVG charts, with no scripts or
// outside resources, so the file can be opened anywhere or attached to an issue.
#include "runtime/sim/sim_report.hpp"

#include <algorithm>
#include <cstdio>
#include <map>

namespace sdw {
namespace {

std::string fmt(double v, int decimals = 1) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

const char* colour(size_t i) {
  static const char* palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  return palette[i % 10];
}

constexpr int chart_w = 640, chart_h = 240, pad = 40;

std::string histogram_svg(const std::vector<double>& samples) {
  std::string svg = "<svg xmlns='http://www.w3.org/2000/svg' width='" + std::to_string(chart_w) + "' height='" +
                    std::to_string(chart_h) + "'>";
  if (samples.empty()) {
    return svg + "<text x='20' y='20'>no completed jobs</text></svg>";
  }
  constexpr int bins = 24;
  const double lo = *std::min_element(samples.begin(), samples.end());
  const double hi = std::max(lo + 1, *std::max_element(samples.begin(), samples.end()));
  std::vector<int> count(bins, 0);
  for (double s : samples) {
    ++count[std::min(bins - 1, static_cast<int>((s - lo) / (hi - lo) * bins))];
  }
  const int top = std::max(1, *std::max_element(count.begin(), count.end()));
  const double bw = static_cast<double>(chart_w - 2 * pad) / bins;
  for (int b = 0; b < bins; ++b) {
    const double h = static_cast<double>(count[b]) / top * (chart_h - 2 * pad);
    svg += "<rect x='" + fmt(pad + b * bw) + "' y='" + fmt(chart_h - pad - h) + "' width='" + fmt(bw - 1) +
           "' height='" + fmt(h) + "' fill='#1f77b4'><title>" + std::to_string(count[b]) + " jobs</title></rect>";
  }
  svg += "<line x1='" + std::to_string(pad) + "' y1='" + std::to_string(chart_h - pad) + "' x2='" +
         std::to_string(chart_w - pad) + "' y2='" + std::to_string(chart_h - pad) + "' stroke='black'/>";
  svg += "<text x='" + std::to_string(pad) + "' y='" + std::to_string(chart_h - 10) + "'>" + fmt(lo, 0) +
         " ms</text><text x='" + std::to_string(chart_w - pad - 60) + "' y='" + std::to_string(chart_h - 10) + "'>" +
         fmt(hi, 0) + " ms</text><text x='4' y='" + std::to_string(pad - 8) + "'>max " + std::to_string(top) +
         " jobs per bin</text>";
  return svg + "</svg>";
}

std::string timeline_svg(const sim_report& r) {
  std::string svg = "<svg xmlns='http://www.w3.org/2000/svg' width='" + std::to_string(chart_w) + "' height='" +
                    std::to_string(chart_h) + "'>";
  if (r.completions.empty()) {
    return svg + "<text x='20' y='20'>no completed jobs</text></svg>";
  }
  const double t0 = r.completions.front().second, t1 = std::max(t0 + 1, r.completions.back().second);
  int top = 1;
  std::map<std::string, std::vector<std::pair<double, int>>> lines;
  for (const auto& [worker, at] : r.completions) {
    auto& line = lines[worker];
    line.emplace_back(at, static_cast<int>(line.size()) + 1);
    top = std::max(top, static_cast<int>(line.size()));
  }
  size_t i = 0;
  for (const auto& [worker, line] : lines) {
    std::string points;
    for (const auto& [at, n] : line) {
      const double x = pad + (at - t0) / (t1 - t0) * (chart_w - 2 * pad);
      const double y = chart_h - pad - static_cast<double>(n) / top * (chart_h - 2 * pad);
      points += fmt(x) + "," + fmt(y) + " ";
    }
    svg += "<polyline fill='none' stroke-width='2' stroke='" + std::string(colour(i)) + "' points='" + points + "'/>";
    svg += "<text x='" + std::to_string(chart_w - pad - 100) + "' y='" + std::to_string(pad + 14 * i) + "' fill='" +
           colour(i) + "'>" + escape(worker) + "</text>";
    ++i;
  }
  svg += "<text x='" + std::to_string(pad) + "' y='" + std::to_string(chart_h - 10) + "'>0 s</text><text x='" +
         std::to_string(chart_w - pad - 60) + "' y='" + std::to_string(chart_h - 10) + "'>" +
         fmt((t1 - t0) / 1000.0, 2) + " s</text><text x='4' y='" + std::to_string(pad - 8) + "'>" +
         std::to_string(top) + " jobs</text>";
  return svg + "</svg>";
}

std::string batch_svg(const sim_report& r) {
  std::string svg = "<svg xmlns='http://www.w3.org/2000/svg' width='" + std::to_string(chart_w) + "' height='" +
                    std::to_string(chart_h) + "'>";
  if (r.batch_sizes.empty()) {
    return svg + "<text x='20' y='20'>no batch sizes reported</text></svg>";
  }
  // One slot per size from 1 to the largest, so gaps show as gaps.
  const int largest = r.batch_sizes.back().size;
  int top = 1;
  for (const auto& b : r.batch_sizes) {
    top = std::max(top, b.batches);
  }
  const double bw = static_cast<double>(chart_w - 2 * pad) / largest;
  for (const auto& b : r.batch_sizes) {
    const double h = static_cast<double>(b.batches) / top * (chart_h - 2 * pad);
    const double x = pad + (b.size - 1) * bw;
    svg += "<rect x='" + fmt(x + 2) + "' y='" + fmt(chart_h - pad - h) + "' width='" + fmt(bw - 4) + "' height='" +
           fmt(h) + "' fill='#2ca02c'><title>" + std::to_string(b.batches) + " runs of " + std::to_string(b.size) +
           " jobs (" + std::to_string(b.jobs) + " jobs)</title></rect>";
    svg += "<text x='" + fmt(x + bw / 2 - 12) + "' y='" + fmt(chart_h - pad - h - 4) + "'>" +
           std::to_string(b.batches) + "</text>";
  }
  for (int size = 1; size <= largest; ++size) {
    svg += "<text x='" + fmt(pad + (size - 0.5) * bw - 4) + "' y='" + std::to_string(chart_h - pad + 16) + "'>" +
           std::to_string(size) + "</text>";
  }
  svg += "<line x1='" + std::to_string(pad) + "' y1='" + std::to_string(chart_h - pad) + "' x2='" +
         std::to_string(chart_w - pad) + "' y2='" + std::to_string(chart_h - pad) + "' stroke='black'/>";
  svg += "<text x='" + std::to_string(pad) + "' y='" + std::to_string(chart_h - 6) +
         "'>jobs per executor run</text><text x='4' y='" + std::to_string(pad - 8) + "'>runs (max " +
         std::to_string(top) + ")</text>";
  return svg + "</svg>";
}

std::string batch_caption(const sim_report& r) {
  std::string text = "Executor runs by how many jobs shared them, as the workers reported with each result:";
  for (size_t i = 0; i < r.batch_sizes.size(); ++i) {
    const auto& b = r.batch_sizes[i];
    text += std::string(i ? ", " : " ") + std::to_string(b.batches) + (i ? " of " : " runs of ") +
            std::to_string(b.size);
  }
  if (r.batch_unreported > 0) {
    text += "; " + std::to_string(r.batch_unreported) + " completed jobs not reported";
  }
  return text + ".";
}

std::string row(const std::string& name, const std::string& value) {
  return "<tr><th>" + escape(name) + "</th><td>" + escape(value) + "</td></tr>";
}

} // namespace

std::string sim_report_html(const sim_report& r) {
  std::string html =
    "<!DOCTYPE html><html><head><meta charset='utf-8'><title>sdworker sim report</title><style>"
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}th,td{border:1px solid #ccc;"
    "padding:2px 8px;text-align:left}.bad{color:#c00;font-weight:bold}</style></head><body>"
    "<h1>sdworker simulation</h1><p>" +
    escape(r.settings) + "</p><table>";
  html += row("jobs", std::to_string(r.jobs)) + row("completed", std::to_string(r.completed)) +
          row("failed", std::to_string(r.failed)) + row("cancelled", std::to_string(r.cancelled));
  html += "<tr><th>lost</th><td" + std::string(r.lost ? " class='bad'" : "") + ">" + std::to_string(r.lost) +
          "</td></tr><tr><th>duplicated</th><td" + std::string(r.duplicated ? " class='bad'" : "") + ">" +
          std::to_string(r.duplicated) + " (" + std::to_string(r.duplicate_results) + " extra results)</td></tr>";
  html += row("requeued", std::to_string(r.requeued)) + row("injected faults", std::to_string(r.injected_faults)) +
          row("injected duplicate deliveries", std::to_string(r.injected_duplicates)) +
          row("span", fmt(r.span_s, 2) + " s") + row("throughput", fmt(r.throughput_per_s, 2) + " jobs/s");
  html += row("end-to-end p50 / p95 / p99", fmt(r.end_to_end.p50) + " / " + fmt(r.end_to_end.p95) + " / " +
                                                fmt(r.end_to_end.p99) + " ms");
  html += row("queue p50 / p95 / p99", fmt(r.queue.p50) + " / " + fmt(r.queue.p95) + " / " + fmt(r.queue.p99) + " ms");
  html += "</table><h2>Workers</h2><table><tr><th>worker</th><th>jobs</th><th>busy</th><th>utilisation</th></tr>";
  for (const auto& w : r.workers) {
    html += "<tr><td>" + escape(w.name) + "</td><td>" + std::to_string(w.jobs) + "</td><td>" + fmt(w.busy_ms / 1000, 2) +
            " s</td><td>" + fmt(w.utilisation * 100) + " %</td></tr>";
  }
  html += "</table><h2>End-to-end latency</h2>" + histogram_svg(r.end_to_end_samples) +
          "<h2>Jobs completed over time, per worker</h2>" + timeline_svg(r) + "<h2>Batch sizes</h2><p>" +
          escape(batch_caption(r)) + "</p>" + batch_svg(r) + "</body></html>\n";
  return html;
}

} // namespace sdw
