#include "report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace herald::bench {
namespace {

std::string thousands(uint64_t n) {
  std::string digits = std::to_string(n), out;
  int count = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (count && count % 3 == 0) out.insert(out.begin(), ',');
    out.insert(out.begin(), *it);
    ++count;
  }
  return out;
}

std::string fixed(double v, int decimals) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string ms(double v) {
  if (v >= 100) return fixed(v, 1);
  if (v >= 10) return fixed(v, 2);
  return fixed(v, 3);
}

std::string mib(uint64_t bytes) { return fixed(double(bytes) / (1024.0 * 1024.0), 1) + " MiB"; }

std::string jsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c < 0x20) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  return out + "\"";
}

std::string jsonNumber(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string latencyJson(const LatencySummary& l) {
  return "{\"count\":" + std::to_string(l.count) + ",\"min\":" + jsonNumber(l.min_ms) +
         ",\"mean\":" + jsonNumber(l.mean_ms) + ",\"p50\":" + jsonNumber(l.p50_ms) +
         ",\"p90\":" + jsonNumber(l.p90_ms) + ",\"p99\":" + jsonNumber(l.p99_ms) +
         ",\"p999\":" + jsonNumber(l.p999_ms) + ",\"max\":" + jsonNumber(l.max_ms) + "}";
}

void latencyRow(const char* label, const LatencySummary& l) {
  if (l.count == 0) {
    printf("  %-18s no samples\n", label);
    return;
  }
  printf("  %-18s %10s %10s %10s %10s %10s %10s   (ms, %s samples)\n", label, ms(l.min_ms).c_str(),
         ms(l.p50_ms).c_str(), ms(l.p90_ms).c_str(), ms(l.p99_ms).c_str(), ms(l.p999_ms).c_str(),
         ms(l.max_ms).c_str(), thousands(l.count).c_str());
}

}  // namespace

LatencySummary summarize(const Histogram& h) {
  LatencySummary s;
  s.count = h.count();
  if (!s.count) return s;
  s.min_ms = double(h.min()) / 1e6;
  s.mean_ms = h.mean() / 1e6;
  s.p50_ms = double(h.percentile(50)) / 1e6;
  s.p90_ms = double(h.percentile(90)) / 1e6;
  s.p99_ms = double(h.percentile(99)) / 1e6;
  s.p999_ms = double(h.percentile(99.9)) / 1e6;
  s.max_ms = double(h.max()) / 1e6;
  return s;
}

std::vector<std::pair<double, double>> percentileCurve(const Histogram& h) {
  std::vector<std::pair<double, double>> curve;
  if (h.count() == 0) return curve;
  // Evenly spaced on the log(1/(1-p)) axis: 10 points per decade up to 99.9999%.
  for (int i = 0; i <= 60; ++i) {
    double p = 100.0 * (1.0 - std::pow(10.0, -double(i) / 10.0));
    curve.emplace_back(p, double(h.percentile(p)) / 1e6);
  }
  curve.emplace_back(100.0, double(h.max()) / 1e6);
  return curve;
}

void printTable(const Result& r) {
  printf("\nherald-bench %s  proto=%s  url=%s\n", r.scenario.c_str(), r.proto.c_str(), r.url.c_str());
  std::string line;
  for (auto& [k, v] : r.settings) line += k + "=" + v + " ";
  printf("  %s\n\n", line.c_str());
  printf("  %-18s %s ready of %s", "connections", thousands(r.ready).c_str(), thousands(r.clients).c_str());
  if (r.failed) printf(", %s failed", thousands(r.failed).c_str());
  if (r.dropped) printf(", %s dropped", thousands(r.dropped).c_str());
  printf("\n");
  if (r.connects_per_s > 0)
    printf("  %-18s %s /s  (%s s for all)\n", "connect rate", thousands(uint64_t(r.connects_per_s)).c_str(),
           fixed(r.connect_s, 2).c_str());
  if (r.scenario == "fanout" || r.scenario == "chat") {
    printf("  %-18s %s s\n", "measured", fixed(r.measured_s, 2).c_str());
    printf("  %-18s %s  (%s /s)\n", r.scenario == "chat" ? "messages sent" : "events published",
           thousands(r.events).c_str(), thousands(uint64_t(r.events_per_s)).c_str());
    printf("  %-18s %s  (%s /s)\n", "deliveries", thousands(r.deliveries).c_str(),
           thousands(uint64_t(r.deliveries_per_s)).c_str());
  }
  printf("\n  %-18s %10s %10s %10s %10s %10s %10s\n", "latency", "min", "p50", "p90", "p99", "p99.9", "max");
  if (r.scenario == "fanout" || r.scenario == "chat") latencyRow("delivery", r.latency);
  latencyRow("connect", r.connect_latency);
  printf("\n  %-18s missing %s, out-of-order %s, publish errors %s, connect failures %s, drops %s%s\n", "errors",
         thousands(r.missing).c_str(), thousands(r.out_of_order).c_str(), thousands(r.publish_errors).c_str(),
         thousands(r.failed).c_str(), thousands(r.dropped).c_str(), r.stalled ? ", STALLED" : "");
  if (!r.first_error.empty()) printf("  %-18s %s\n", "first error", r.first_error.c_str());
  if (r.has_server) {
    printf("  %-18s CPU %s%%  RSS %s -> %s", "server", fixed(r.server_cpu_percent, 1).c_str(),
           mib(r.server_rss_before).c_str(), mib(r.server_rss_after).c_str());
    if (r.server_rss_per_connection > 0)
      printf("  (%s bytes per connection)", thousands(uint64_t(r.server_rss_per_connection)).c_str());
    printf("\n");
  }
  if (r.bench_cpu_percent >= 0) printf("  %-18s CPU %s%%\n", "herald-bench", fixed(r.bench_cpu_percent, 1).c_str());
  printf("  %-18s %s\n\n", "result", r.ok() ? "OK" : "ERRORS (see above)");
  fflush(stdout);
}

bool writeJson(const Result& r, const std::string& path) {
  FILE* f = fopen(path.c_str(), "w");
  if (!f) {
    perror(path.c_str());
    return false;
  }
  std::string s = "{\n  \"scenario\": " + jsonString(r.scenario) + ",\n  \"proto\": " + jsonString(r.proto) +
                  ",\n  \"url\": " + jsonString(r.url) + ",\n  \"settings\": {";
  for (size_t i = 0; i < r.settings.size(); ++i)
    s += (i ? ", " : "") + jsonString(r.settings[i].first) + ": " + jsonString(r.settings[i].second);
  s += "},\n";
  s += "  \"clients\": " + std::to_string(r.clients) + ",\n  \"ready\": " + std::to_string(r.ready) +
       ",\n  \"connect_failures\": " + std::to_string(r.failed) + ",\n  \"dropped\": " + std::to_string(r.dropped) +
       ",\n  \"connect_seconds\": " + jsonNumber(r.connect_s) +
       ",\n  \"connects_per_s\": " + jsonNumber(r.connects_per_s) +
       ",\n  \"connect_latency_ms\": " + latencyJson(r.connect_latency) +
       ",\n  \"measured_seconds\": " + jsonNumber(r.measured_s) + ",\n  \"events\": " + std::to_string(r.events) +
       ",\n  \"events_per_s\": " + jsonNumber(r.events_per_s) +
       ",\n  \"deliveries\": " + std::to_string(r.deliveries) +
       ",\n  \"deliveries_per_s\": " + jsonNumber(r.deliveries_per_s) +
       ",\n  \"total_events\": " + std::to_string(r.total_events) +
       ",\n  \"total_deliveries\": " + std::to_string(r.total_deliveries) +
       ",\n  \"latency_ms\": " + latencyJson(r.latency) + ",\n  \"latency_percentiles_ms\": [";
  for (size_t i = 0; i < r.latency_curve.size(); ++i)
    s += std::string(i ? ", " : "") + "[" + jsonNumber(r.latency_curve[i].first) + ", " +
         jsonNumber(r.latency_curve[i].second) + "]";
  s += "],\n  \"missing\": " + std::to_string(r.missing) + ",\n  \"out_of_order\": " + std::to_string(r.out_of_order) +
       ",\n  \"publish_errors\": " + std::to_string(r.publish_errors) +
       ",\n  \"stalled\": " + (r.stalled ? "true" : "false") + ",\n  \"first_error\": " + jsonString(r.first_error);
  if (r.has_server) {
    s += ",\n  \"server_cpu_percent\": " + jsonNumber(r.server_cpu_percent) +
         ",\n  \"server_rss_before_bytes\": " + std::to_string(r.server_rss_before) +
         ",\n  \"server_rss_after_bytes\": " + std::to_string(r.server_rss_after) +
         ",\n  \"server_rss_per_connection_bytes\": " + jsonNumber(r.server_rss_per_connection);
  }
  s += ",\n  \"bench_cpu_percent\": " + jsonNumber(r.bench_cpu_percent);
  s += ",\n  \"ok\": " + std::string(r.ok() ? "true" : "false") + "\n}\n";
  fputs(s.c_str(), f);
  fclose(f);
  return true;
}

bool writeSvg(const Result& r, const Histogram& h, const std::string& path) {
  FILE* f = fopen(path.c_str(), "w");
  if (!f) {
    perror(path.c_str());
    return false;
  }
  const double width = 860, height = 500, left = 80, right = 30, top = 60, bottom = 70;
  const double plot_w = width - left - right, plot_h = height - top - bottom;
  const double max_decades = 6;  // 99.9999%
  // One point per non-empty bucket: (x = log10(1/(1-p)), latency in ms).
  std::vector<std::pair<double, double>> points;
  const uint64_t n = h.count();
  double y_max = 0;
  if (n) {
    uint64_t seen = 0;
    points.emplace_back(0.0, double(h.min()) / 1e6);
    for (size_t i = 0; i < Histogram::kBuckets; ++i) {
      const uint64_t c = h.bucketCount(i);
      if (!c) continue;
      seen += c;
      double p = double(seen) / double(n);
      double x = p >= 1 ? max_decades : std::min(max_decades, std::log10(1.0 / (1.0 - p)));
      double v = double(std::min(Histogram::bucketLow(i) + Histogram::bucketWidth(i) - 1, h.max())) / 1e6;
      points.emplace_back(x, v);
      y_max = std::max(y_max, v);
    }
  }
  // A round upper bound for the y axis.
  double step = 1;
  if (y_max > 0) {
    double raw = y_max / 5;
    double mag = std::pow(10.0, std::floor(std::log10(raw)));
    step = raw / mag <= 1 ? mag : raw / mag <= 2 ? 2 * mag : raw / mag <= 5 ? 5 * mag : 10 * mag;
  }
  const double y_top = std::max(step, std::ceil(y_max / step) * step);
  auto px = [&](double x) { return left + plot_w * x / max_decades; };
  auto py = [&](double y) { return top + plot_h * (1 - y / y_top); };

  fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" font-size=\"12\">\n", width, height);
  fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
  fprintf(f, "<text x=\"%.0f\" y=\"24\" font-size=\"16\">herald-bench %s: %s latency by percentile</text>\n", left,
          r.scenario.c_str(), r.proto.c_str());
  std::string sub;
  for (auto& [k, v] : r.settings) sub += k + "=" + v + " ";
  fprintf(f, "<text x=\"%.0f\" y=\"44\" fill=\"#555\">%s</text>\n", left, sub.c_str());
  // Grid and axes.
  const char* labels[] = {"0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"};
  for (int d = 0; d <= int(max_decades); ++d) {
    double x = px(d);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", x, top, x, top + plot_h);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", x, top + plot_h + 18, labels[d]);
  }
  for (double y = 0; y <= y_top + step / 2; y += step) {
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", left, py(y), left + plot_w, py(y));
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", left - 6, py(y) + 4, y);
  }
  fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#333\"/>\n", left, top, plot_w, plot_h);
  fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">percentile</text>\n", left + plot_w / 2, height - 20);
  fprintf(f, "<text transform=\"translate(20,%.1f) rotate(-90)\" text-anchor=\"middle\">latency (ms)</text>\n", top + plot_h / 2);
  if (!points.empty()) {
    // A step line: latency stays at a bucket's value until the next percentile.
    std::string d = "M";
    double last_y = points.front().second;
    d += std::to_string(px(points.front().first)) + "," + std::to_string(py(last_y));
    for (auto& [x, y] : points) {
      d += " L" + std::to_string(px(x)) + "," + std::to_string(py(last_y));
      d += " L" + std::to_string(px(x)) + "," + std::to_string(py(y));
      last_y = y;
    }
    fprintf(f, "<path d=\"%s\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\"/>\n", d.c_str());
    LatencySummary s = summarize(h);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#1f77b4\">p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms  (%llu samples)</text>\n",
            left + 10, top + 18, s.p50_ms, s.p99_ms, s.p999_ms, s.max_ms, (unsigned long long)s.count);
  } else {
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">no samples</text>\n", left + 10, top + 18);
  }
  fprintf(f, "</svg>\n");
  fclose(f);
  return true;
}

}  // namespace herald::bench
