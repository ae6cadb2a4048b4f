// UserRateLimiter: publishes per second per user ([limits]
// publishes_per_second_per_user), one token bucket per user shared by all of
// that user's connections on this node, whatever worker they are on. A
// bucket holds one second's worth (at least one). Anonymous connections have
// no user to share, so each gets its own bucket, keyed by connection id.
// Thread-safe (one mutex: publish is a command, not the delivery path).
// Buckets that have refilled completely carry no state and are dropped.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace herald::core {

class UserRateLimiter {
 public:
  // `rate` per second; 0 = unlimited (take() always succeeds, no lock).
  explicit UserRateLimiter(double rate) : rate_(rate), burst_(rate < 1 ? 1 : rate) {}

  // Takes one token from `user`'s bucket (or, for the anonymous user "",
  // from connection `connection_id`'s) at `now_ms` (a steady clock).
  // False when the bucket is empty.
  bool take(std::string_view user, uint64_t connection_id, int64_t now_ms);

  bool enabled() const { return rate_ > 0; }
  // Buckets currently held (tests).
  size_t size() const;

 private:
  struct Bucket {
    double tokens;
    int64_t refilled_ms;
  };
  // Lets find() take the user as a string_view: no allocation per publish.
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  bool takeFrom(Bucket& b, int64_t now_ms) const;
  // Drops full buckets, at most once a second.
  void sweep(int64_t now_ms);

  const double rate_;
  const double burst_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Bucket, Hash, std::equal_to<>> users_;
  std::unordered_map<uint64_t, Bucket> anonymous_;
  int64_t swept_ms_ = 0;
};

}  // namespace herald::core
