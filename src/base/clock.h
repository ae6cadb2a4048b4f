// The clocks Herald reads, in one place: steady time for deadlines, rates
// and latencies (also compared across threads, e.g. a broker's accept time
// against a worker's delivery time), wall time for timestamps clients see.
#pragma once

#include <chrono>
#include <cstdint>

namespace herald::base {

inline int64_t steadyNowNs() {
  using namespace std::chrono;
  return duration_cast<nanoseconds>(steady_clock::now().time_since_epoch()).count();
}

inline int64_t steadyNowMs() { return steadyNowNs() / 1'000'000; }

// Milliseconds since the Unix epoch.
inline int64_t wallNowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace herald::base
