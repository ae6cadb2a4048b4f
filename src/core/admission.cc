#include "core/admission.h"

#include <algorithm>

namespace herald::core {

Admission::Admission(const config::Limits& limits)
    : max_total_(limits.max_connections),
      max_per_ip_(limits.max_connections_per_ip),
      rate_(limits.connect_rate_per_ip),
      burst_(std::max(1.0, limits.connect_rate_per_ip)) {}

void Admission::refill(PerIp& entry, int64_t now_ms) const {
  double elapsed_s = static_cast<double>(now_ms - entry.refilled_ms) / 1000.0;
  entry.tokens = std::min(burst_, entry.tokens + elapsed_s * rate_);
  entry.refilled_ms = now_ms;
}

Admission::Verdict Admission::admit(std::string_view ip, int64_t now_ms) {
  std::lock_guard lock(mu_);
  if (now_ms - swept_ms_ >= 10'000) sweep(now_ms);
  if (total_ >= max_total_) return Verdict::kTotal;
  // Without per-IP limits there is nothing to remember per IP.
  if (max_per_ip_ == 0 && rate_ <= 0) {
    ++total_;
    return Verdict::kAdmitted;
  }
  auto it = ips_.find(ip);
  if (it == ips_.end()) it = ips_.emplace(std::string(ip), PerIp{0, burst_, now_ms}).first;
  PerIp& entry = it->second;
  if (max_per_ip_ != 0 && entry.connections >= max_per_ip_) return Verdict::kPerIp;
  if (rate_ > 0) {
    refill(entry, now_ms);
    if (entry.tokens < 1.0) return Verdict::kRate;
    entry.tokens -= 1.0;
  }
  ++entry.connections;
  ++total_;
  return Verdict::kAdmitted;
}

void Admission::release(std::string_view ip) {
  std::lock_guard lock(mu_);
  if (total_ > 0) --total_;
  auto it = ips_.find(ip);
  if (it != ips_.end() && it->second.connections > 0) --it->second.connections;
}

uint64_t Admission::connections() const {
  std::lock_guard lock(mu_);
  return total_;
}

// Forgets IPs with no connection whose bucket is full again: remembering
// them would change nothing.
void Admission::sweep(int64_t now_ms) {
  swept_ms_ = now_ms;
  for (auto it = ips_.begin(); it != ips_.end();) {
    PerIp& entry = it->second;
    if (entry.connections == 0) {
      refill(entry, now_ms);
      if (rate_ <= 0 || entry.tokens >= burst_) {
        it = ips_.erase(it);
        continue;
      }
    }
    ++it;
  }
}

}  // namespace herald::core
