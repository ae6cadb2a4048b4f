// The one clock herald-bench uses: CLOCK_MONOTONIC in nanoseconds. Every
// process on the machine reads the same clock, so a send time written into a
// payload by one process can be subtracted from a receive time in another.
#pragma once

#include <time.h>

#include <cstdint>

namespace herald::bench {

inline uint64_t nowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

// When the bytes being processed on this thread were read: set by the
// receive path once per read, so each event in a batch is not timed apart.
inline thread_local uint64_t tl_read_ns = 0;

inline double nsToMs(uint64_t ns) { return double(ns) / 1e6; }

}  // namespace herald::bench
