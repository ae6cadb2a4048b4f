// Metrics: the counters and gauges of a worker, written only by that
// worker's thread (relaxed atomics, no read-modify-write, so no cache-line
// contention on the delivery path) and summed over all workers when
// /metrics is scraped. Every metric Herald exports is declared here.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herald::metrics {

// A counter owned by one thread; others may read it.
class Counter {
 public:
  void inc(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// A gauge owned by one thread (may go down).
class Gauge {
 public:
  void add(int64_t n) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  int64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

// A latency histogram owned by one thread, with fixed buckets from 50 us to
// 10 s (Prometheus "le" bounds). Observing is a short scan and two stores.
class Histogram {
 public:
  static constexpr std::array<uint64_t, 16> kBoundsNs = {
      50'000,     100'000,     250'000,     500'000,       1'000'000,     2'500'000,
      5'000'000,  10'000'000,  25'000'000,  50'000'000,    100'000'000,   250'000'000,
      500'000'000, 1'000'000'000, 2'500'000'000, 10'000'000'000};

  void observe(uint64_t ns) {
    size_t i = 0;
    while (i < kBoundsNs.size() && ns > kBoundsNs[i]) ++i;
    buckets_[i].inc();  // the last one is +Inf
    sum_ns_.inc(ns);
  }
  uint64_t bucket(size_t i) const { return buckets_[i].get(); }  // not cumulative
  uint64_t sumNs() const { return sum_ns_.get(); }

 private:
  std::array<Counter, kBoundsNs.size() + 1> buckets_;
  Counter sum_ns_;
};

enum class Transport : uint8_t { kHttp, kWebSocket, kSse, kCount };
enum class CommandKind : uint8_t {
  kConnect, kSubscribe, kUnsubscribe, kPublish, kPresence, kPresenceStats,
  kHistory, kRefresh, kInvalid, kCount
};
// Why input was refused; each gets its own series.
enum class Rejection : uint8_t {
  kHttpBadRequest,      // 400 malformed request
  kHttpTooLarge,        // 413/414/431
  kHttpTimeout,         // 408: request not completed in time
  kWsHandshake,         // refused upgrade (400/426)
  kWsProtocol,          // close 1002
  kWsInvalidUtf8,       // close 1007
  kWsTooLarge,          // close 1009
  kBadCommand,          // error 107 / disconnect 3002
  kUnknownMethod,       // error 104
  kPermissionDenied,    // error 103
  kUnauthorized,        // error 101 / 109, API 401, refused refresh
  kLimitExceeded,       // error 106 / 111
  kConnectionLimit,     // disconnect 3008: connections in total or per IP, connect rate
  kRateLimited,         // error 110 / disconnect 3007: commands per second, publishes per user
  kOrigin,              // 403: Origin not in [server] allowed_origins (or missing)
  kTlsPlaintext,        // plain HTTP on the TLS port: closed
  kTlsHandshake,        // TLS handshake refused, or not completed within handshake_timeout
  kCount
};

// Disconnect codes 3000..3011 plus "other" (transport-level closes).
constexpr size_t kDisconnectCodes = 13;

struct WorkerMetrics {
  std::array<Gauge, static_cast<size_t>(Transport::kCount)> connections;
  Counter accepted;
  std::array<Counter, kDisconnectCodes> disconnects;
  std::array<Counter, static_cast<size_t>(CommandKind::kCount)> commands_ok;
  std::array<Counter, static_cast<size_t>(CommandKind::kCount)> commands_error;
  std::array<Counter, static_cast<size_t>(Rejection::kCount)> rejections;
  Gauge subscriptions;
  Counter published;       // events accepted by this worker (API or client)
  Counter delivered;       // events queued to a subscriber
  Histogram enqueue_latency;  // engine accepted -> queued to the worker's last subscriber
  Counter slow_consumers;  // disconnects 3006
  Counter recoveries[2];   // subscribe with since: [0] not recovered, [1] recovered
  Counter api_requests;
  Histogram api_latency;  // valid-key API requests, arrival to answer
  Counter bytes_in;
  Counter bytes_out;

  void disconnect(uint16_t code) {
    size_t i = (code >= 3000 && code <= 3011) ? code - 3000 : kDisconnectCodes - 1;
    disconnects[i].inc();
  }
  void reject(Rejection r) { rejections[static_cast<size_t>(r)].inc(); }
};

// Node-wide figures read at scrape time.
struct NodeGauges {
  uint64_t channels = 0;
  uint64_t uptime_seconds = 0;
  std::vector<std::pair<std::string_view, uint64_t>> broker_operations;  // name, calls
};

// Renders the Prometheus text exposition of all workers' metrics.
std::string renderPrometheus(const std::vector<const WorkerMetrics*>& workers,
                             const NodeGauges& node);

}  // namespace herald::metrics
