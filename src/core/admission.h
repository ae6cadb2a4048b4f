// Admission: the node-wide limits on client connections: in total, per
// client IP, and new connections per second per IP (a token bucket whose
// burst is one second's worth, at least one). A client transport asks
// before it serves a connection and gives the place back when it ends; a
// refused client gets disconnect 3008 ("connection limit", reconnect with
// backoff). Consulted once per connection and once per close, never per
// message, so one mutex over all workers costs nothing that matters.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "config/config.h"

namespace herald::core {

class Admission {
 public:
  enum class Verdict : uint8_t { kAdmitted, kTotal, kPerIp, kRate };

  explicit Admission(const config::Limits& limits);

  // On kAdmitted the caller holds a place until release(ip).
  Verdict admit(std::string_view ip, int64_t now_ms);
  void release(std::string_view ip);
  uint64_t connections() const;

 private:
  struct PerIp {
    uint32_t connections = 0;
    double tokens = 0;      // connect-rate bucket
    int64_t refilled_ms = 0;
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  void refill(PerIp& entry, int64_t now_ms) const;
  void sweep(int64_t now_ms);

  const uint32_t max_total_;
  const uint32_t max_per_ip_;  // 0 = unlimited
  const double rate_;          // per second; 0 = unlimited
  const double burst_;
  mutable std::mutex mu_;
  uint64_t total_ = 0;  // guarded by mu_
  std::unordered_map<std::string, PerIp, StringHash, std::equal_to<>> ips_;  // guarded by mu_
  int64_t swept_ms_ = 0;  // guarded by mu_
};

}  // namespace herald::core
