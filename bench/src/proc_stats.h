// CPU time and resident memory of a process, read from /proc/<pid>/stat and
// /proc/<pid>/status: how herald-bench reports the server's CPU% and RSS
// (--server-pid) and its own CPU. Stateless; thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace herald::bench {

struct ProcSample {
  bool ok = false;
  uint64_t cpu_ns = 0;     // user + system time of all the process's threads
  uint64_t rss_bytes = 0;  // VmRSS
  uint64_t at_ns = 0;      // CLOCK_MONOTONIC when sampled
};

ProcSample sampleProcess(pid_t pid);

// CPU% (100 = one core) between two samples; -1 when either failed.
double cpuPercent(const ProcSample& a, const ProcSample& b);

}  // namespace herald::bench
