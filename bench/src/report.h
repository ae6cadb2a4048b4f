// The outcome of one herald-bench run and the three ways it is written out:
// the table on stdout, --json FILE with every figure, and --svg FILE with the
// latency-percentile plot (x: percentile on a log scale of 1/(1-p), as
// HdrHistogram plots are drawn; y: latency in ms). Plain data; not shared.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "histogram.h"

namespace herald::bench {

struct LatencySummary {
  uint64_t count = 0;
  double min_ms = 0, mean_ms = 0, p50_ms = 0, p90_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0;
};

LatencySummary summarize(const Histogram& h);

struct Result {
  std::string scenario, proto, url;
  std::vector<std::pair<std::string, std::string>> settings;  // flag -> value, as run

  // Clients.
  uint64_t clients = 0, ready = 0, failed = 0, dropped = 0;
  double connect_s = 0;          // first attempt -> last client ready
  double connects_per_s = 0;
  LatencySummary connect_latency;

  // Traffic, over the measured window (after the warmup, until publishing stopped).
  double measured_s = 0;
  uint64_t events = 0;           // published (fanout) or sent (chat)
  uint64_t deliveries = 0;
  double events_per_s = 0, deliveries_per_s = 0;
  uint64_t total_events = 0, total_deliveries = 0;  // whole run, warmup included
  LatencySummary latency;
  std::vector<std::pair<double, double>> latency_curve;  // (percentile, ms)

  // Correctness.
  uint64_t missing = 0, out_of_order = 0, publish_errors = 0;
  bool stalled = false;
  std::string first_error;

  // Resources.
  bool has_server = false;
  double server_cpu_percent = -1;
  uint64_t server_rss_before = 0, server_rss_after = 0;
  double server_rss_per_connection = 0;
  double bench_cpu_percent = -1;

  bool ok() const { return failed == 0 && dropped == 0 && missing == 0 && out_of_order == 0 && publish_errors == 0 && !stalled; }
};

void printTable(const Result& r);
bool writeJson(const Result& r, const std::string& path);
bool writeSvg(const Result& r, const Histogram& latency, const std::string& path);

// A percentile curve for JSON and plots: points from 0 to 99.9999%.
std::vector<std::pair<double, double>> percentileCurve(const Histogram& h);

}  // namespace herald::bench
