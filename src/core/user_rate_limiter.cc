#include "core/user_rate_limiter.h"

#include <algorithm>

namespace herald::core {

bool UserRateLimiter::takeFrom(Bucket& b, int64_t now_ms) const {
  const double elapsed_s = static_cast<double>(std::max<int64_t>(0, now_ms - b.refilled_ms)) / 1000.0;
  b.tokens = std::min(burst_, b.tokens + elapsed_s * rate_);
  b.refilled_ms = now_ms;
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

bool UserRateLimiter::take(std::string_view user, uint64_t connection_id, int64_t now_ms) {
  if (rate_ <= 0) return true;
  std::lock_guard lock(mu_);
  sweep(now_ms);
  const Bucket full{burst_, now_ms};
  if (user.empty()) {
    auto [it, inserted] = anonymous_.try_emplace(connection_id, full);
    return takeFrom(it->second, now_ms);
  }
  auto it = users_.find(user);
  if (it == users_.end()) it = users_.emplace(std::string(user), full).first;
  return takeFrom(it->second, now_ms);
}

void UserRateLimiter::sweep(int64_t now_ms) {
  if (now_ms - swept_ms_ < 1000) return;
  swept_ms_ = now_ms;
  // A bucket untouched for long enough to refill is the same as no bucket.
  const auto full = [&](const auto& entry) {
    const Bucket& b = entry.second;
    return b.tokens + static_cast<double>(now_ms - b.refilled_ms) / 1000.0 * rate_ >= burst_;
  };
  std::erase_if(users_, full);
  std::erase_if(anonymous_, full);
}

size_t UserRateLimiter::size() const {
  std::lock_guard lock(mu_);
  return users_.size() + anonymous_.size();
}

}  // namespace herald::core
