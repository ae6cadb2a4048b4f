#include "metrics/metrics.h"

#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

namespace herald::metrics {

namespace {

template <typename Get>
uint64_t sum(const std::vector<const WorkerMetrics*>& workers, Get get) {
  uint64_t total = 0;
  for (const WorkerMetrics* w : workers) total += static_cast<uint64_t>(get(*w));
  return total;
}

void header(std::string* out, std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(*out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

constexpr const char* kTransportNames[] = {"http", "websocket", "sse"};
constexpr const char* kCommandNames[] = {"connect", "subscribe", "unsubscribe", "publish", "presence",
                                         "presence_stats", "history", "refresh", "invalid"};
constexpr const char* kRejectionNames[] = {
    "http_bad_request", "http_too_large", "http_timeout", "ws_handshake", "ws_protocol",
    "ws_invalid_utf8", "ws_too_large", "bad_command", "unknown_method", "permission_denied",
    "unauthorized", "limit_exceeded", "connection_limit", "rate_limited",
    "origin", "tls_plaintext", "tls_handshake"};
static_assert(std::size(kTransportNames) == static_cast<size_t>(Transport::kCount));
static_assert(std::size(kCommandNames) == static_cast<size_t>(CommandKind::kCount));
static_assert(std::size(kRejectionNames) == static_cast<size_t>(Rejection::kCount));

// Resident set size and CPU seconds of this process, from /proc.
void processStats(uint64_t* rss_bytes, double* cpu_seconds, uint64_t* open_fds) {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages_total = 0, pages_rss = 0;
  statm >> pages_total >> pages_rss;
  *rss_bytes = pages_rss * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  std::ifstream stat("/proc/self/stat");
  std::string s((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  size_t p = s.rfind(')');
  *cpu_seconds = 0;
  if (p != std::string::npos) {
    // Fields after the command: state is field 3; utime, stime are 14, 15.
    unsigned long long utime = 0, stime = 0;
    const char* rest = s.c_str() + p + 2;
    int field = 3;
    while (*rest && field < 14) {
      if (*rest++ == ' ') ++field;
    }
    if (std::sscanf(rest, "%llu %llu", &utime, &stime) == 2) {
      *cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
    }
  }
  *open_fds = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++*open_fds;
  }
}

// A histogram summed over the workers, with cumulative "le" buckets.
void histogram(std::string* out, std::string_view name, std::string_view help,
               const std::vector<const WorkerMetrics*>& w, Histogram WorkerMetrics::*member) {
  header(out, name, "histogram", help);
  auto it = std::back_inserter(*out);
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= Histogram::kBoundsNs.size(); ++i) {
    cumulative += sum(w, [&](const WorkerMetrics& m) { return (m.*member).bucket(i); });
    if (i < Histogram::kBoundsNs.size()) {
      fmt::format_to(it, "{}_bucket{{le=\"{}\"}} {}\n", name, static_cast<double>(Histogram::kBoundsNs[i]) / 1e9,
                     cumulative);
    } else {
      fmt::format_to(it, "{}_bucket{{le=\"+Inf\"}} {}\n", name, cumulative);
    }
  }
  fmt::format_to(it, "{}_sum {}\n", name,
                 static_cast<double>(sum(w, [&](const WorkerMetrics& m) { return (m.*member).sumNs(); })) / 1e9);
  fmt::format_to(it, "{}_count {}\n", name, cumulative);
}

}  // namespace

std::string renderPrometheus(const std::vector<const WorkerMetrics*>& w, const NodeGauges& node) {
  std::string out;
  out.reserve(8192);
  auto line = [&](std::string_view name, std::string_view labels, auto value) {
    if (labels.empty()) {
      fmt::format_to(std::back_inserter(out), "{} {}\n", name, value);
    } else {
      fmt::format_to(std::back_inserter(out), "{}{{{}}} {}\n", name, labels, value);
    }
  };

  header(&out, "herald_build_info", "gauge", "Build information.");
  line("herald_build_info", fmt::format("version=\"{}\"", HERALD_VERSION), 1);

  header(&out, "herald_connections", "gauge", "Open client connections by transport.");
  for (size_t t = 0; t < std::size(kTransportNames); ++t) {
    line("herald_connections", fmt::format("transport=\"{}\"", kTransportNames[t]),
         static_cast<int64_t>(sum(w, [t](const WorkerMetrics& m) { return m.connections[t].get(); })));
  }
  header(&out, "herald_connections_accepted_total", "counter", "TCP connections accepted.");
  line("herald_connections_accepted_total", "", sum(w, [](const WorkerMetrics& m) { return m.accepted.get(); }));

  header(&out, "herald_disconnects_total", "counter", "Client disconnects by disconnect code.");
  for (size_t i = 0; i < kDisconnectCodes; ++i) {
    std::string code = i + 1 < kDisconnectCodes ? std::to_string(3000 + i) : "other";
    line("herald_disconnects_total", fmt::format("code=\"{}\"", code),
         sum(w, [i](const WorkerMetrics& m) { return m.disconnects[i].get(); }));
  }

  header(&out, "herald_commands_total", "counter", "Protocol commands by method and result.");
  for (size_t c = 0; c < std::size(kCommandNames); ++c) {
    line("herald_commands_total", fmt::format("method=\"{}\",result=\"ok\"", kCommandNames[c]),
         sum(w, [c](const WorkerMetrics& m) { return m.commands_ok[c].get(); }));
    line("herald_commands_total", fmt::format("method=\"{}\",result=\"error\"", kCommandNames[c]),
         sum(w, [c](const WorkerMetrics& m) { return m.commands_error[c].get(); }));
  }

  header(&out, "herald_rejections_total", "counter", "Refused input and requests by reason.");
  for (size_t r = 0; r < std::size(kRejectionNames); ++r) {
    line("herald_rejections_total", fmt::format("reason=\"{}\"", kRejectionNames[r]),
         sum(w, [r](const WorkerMetrics& m) { return m.rejections[r].get(); }));
  }

  header(&out, "herald_subscriptions", "gauge", "Active channel subscriptions.");
  line("herald_subscriptions", "",
       static_cast<int64_t>(sum(w, [](const WorkerMetrics& m) { return m.subscriptions.get(); })));
  header(&out, "herald_channels", "gauge", "Channels known to the engine.");
  line("herald_channels", "", node.channels);
  header(&out, "herald_broker_operations_total", "counter", "Calls into the engine by operation.");
  for (const auto& [name, calls] : node.broker_operations) {
    line("herald_broker_operations_total", fmt::format("operation=\"{}\"", name), calls);
  }

  header(&out, "herald_events_published_total", "counter", "Events accepted for publication.");
  line("herald_events_published_total", "", sum(w, [](const WorkerMetrics& m) { return m.published.get(); }));
  header(&out, "herald_events_delivered_total", "counter", "Events queued to subscribers.");
  line("herald_events_delivered_total", "", sum(w, [](const WorkerMetrics& m) { return m.delivered.get(); }));
  histogram(&out, "herald_publish_enqueue_duration_seconds",
            "From the engine accepting an event to its last local subscriber's queue, per worker.", w,
            &WorkerMetrics::enqueue_latency);
  header(&out, "herald_slow_consumer_disconnects_total", "counter", "Clients dropped for not reading (3006).");
  line("herald_slow_consumer_disconnects_total", "",
       sum(w, [](const WorkerMetrics& m) { return m.slow_consumers.get(); }));
  header(&out, "herald_recoveries_total", "counter",
         "Subscribes with a position, by whether every missed event could be sent.");
  for (int ok = 0; ok < 2; ++ok) {
    line("herald_recoveries_total", ok ? "recovered=\"true\"" : "recovered=\"false\"",
         sum(w, [ok](const WorkerMetrics& m) { return m.recoveries[ok].get(); }));
  }
  header(&out, "herald_api_requests_total", "counter", "Server API requests with a valid key.");
  line("herald_api_requests_total", "", sum(w, [](const WorkerMetrics& m) { return m.api_requests.get(); }));
  histogram(&out, "herald_api_request_duration_seconds",
            "Server API requests with a valid key, from arrival to answer.", w, &WorkerMetrics::api_latency);
  header(&out, "herald_received_bytes_total", "counter", "Bytes received from clients.");
  line("herald_received_bytes_total", "", sum(w, [](const WorkerMetrics& m) { return m.bytes_in.get(); }));
  header(&out, "herald_sent_bytes_total", "counter", "Bytes queued to clients.");
  line("herald_sent_bytes_total", "",
       sum(w, [](const WorkerMetrics& m) { return m.bytes_out.get(); }));

  uint64_t rss = 0, fds = 0;
  double cpu = 0;
  processStats(&rss, &cpu, &fds);
  header(&out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  line("process_resident_memory_bytes", "", rss);
  header(&out, "process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.");
  line("process_cpu_seconds_total", "", cpu);
  header(&out, "process_open_fds", "gauge", "Number of open file descriptors.");
  line("process_open_fds", "", fds);
  header(&out, "herald_uptime_seconds", "gauge", "Seconds since the server started.");
  line("herald_uptime_seconds", "", node.uptime_seconds);
  return out;
}

}  // namespace herald::metrics
