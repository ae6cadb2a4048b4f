#include "proc_stats.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "clock.h"

namespace herald::bench {

ProcSample sampleProcess(pid_t pid) {
  ProcSample s;
  s.at_ns = nowNs();
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", int(pid));
  FILE* f = fopen(path, "r");
  if (!f) return s;
  char buf[1024];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  // Fields after the command name, which may hold spaces: skip past ')'.
  char* p = strrchr(buf, ')');
  if (!p) return s;
  unsigned long long utime = 0, stime = 0;
  // state(3) ... utime(14) stime(15): after ") " come fields 3..
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) return s;
  const long ticks = sysconf(_SC_CLK_TCK);
  s.cpu_ns = (utime + stime) * (1000000000ull / uint64_t(ticks));
  snprintf(path, sizeof path, "/proc/%d/status", int(pid));
  f = fopen(path, "r");
  if (!f) return s;
  char line[256];
  while (fgets(line, sizeof line, f)) {
    unsigned long long kb;
    if (sscanf(line, "VmRSS: %llu kB", &kb) == 1) s.rss_bytes = kb * 1024;
  }
  fclose(f);
  s.ok = true;
  return s;
}

double cpuPercent(const ProcSample& a, const ProcSample& b) {
  if (!a.ok || !b.ok || b.at_ns <= a.at_ns) return -1;
  return 100.0 * double(b.cpu_ns - a.cpu_ns) / double(b.at_ns - a.at_ns);
}

}  // namespace herald::bench
