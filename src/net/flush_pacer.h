// FlushPacer: when a worker's next flush round may start.
//
// Normally at once: a round runs at the end of the loop turn that queued
// something, so a lone event leaves as soon as possible. But a round costs a
// send() per dirty connection whatever each carries, and one event at a time
// to many subscribers makes every round a full one: near saturation the
// worker spends nearly all its time in rounds of a few frames each, and
// queueing delay swings widely (measured at 1,000 events/s to 1,000
// subscribers: 97% of the time in rounds, p99 12 to 164 ms from run to run). So when rounds filled more than
// kSaturatedShare of the last second, rounds are spaced: the next starts no
// sooner than the last one took (at most max_delay) after it ended, and
// the events that arrive meanwhile share each connection's send(). This
// bounds the time in rounds to about half and, with it, the latency. Spacing
// ends when rounds fill less than kCalmShare of a second (apart, so that the
// two regimes do not alternate every second). Small rounds are never held
// back: there is nothing to gain from batching them.
//
// Worker thread only; times are steady-clock nanoseconds.
#pragma once

#include <cstdint>

namespace herald::net {

class FlushPacer {
 public:
  static constexpr double kSaturatedShare = 0.9;
  static constexpr double kCalmShare = 0.5;
  static constexpr int64_t kMinPacedRoundNs = 200'000;

  // max_delay_ns 0: never space rounds.
  explicit FlushPacer(int64_t max_delay_ns, int64_t now_ns)
      : max_delay_ns_(max_delay_ns), window_start_ns_(now_ns) {}

  // A flush round ran from start_ns to end_ns.
  void roundDone(int64_t start_ns, int64_t end_ns) {
    busy_ns_ += end_ns - start_ns;
    last_end_ns_ = end_ns;
    last_cost_ns_ = end_ns - start_ns;
  }

  // How long a round wanted at now_ns should wait (0: run it now).
  int64_t delay(int64_t now_ns) const {
    if (!spacing_ || last_cost_ns_ < kMinPacedRoundNs) return 0;
    int64_t ready = last_end_ns_ + (last_cost_ns_ < max_delay_ns_ ? last_cost_ns_ : max_delay_ns_);
    return ready > now_ns ? ready - now_ns : 0;
  }

  // Called about once a second: closes the measuring window. Returns true
  // when spacing turned on or off.
  bool windowDone(int64_t now_ns) {
    int64_t span = now_ns - window_start_ns_;
    double share = span > 0 ? double(busy_ns_) / double(span) : 0.0;
    last_share_ = share;
    busy_ns_ = 0;
    window_start_ns_ = now_ns;
    bool was = spacing_;
    if (max_delay_ns_ > 0) spacing_ = spacing_ ? share >= kCalmShare : share > kSaturatedShare;
    return spacing_ != was;
  }

  bool spacing() const { return spacing_; }
  // The share of the last window spent in rounds (0..1).
  double lastShare() const { return last_share_; }

 private:
  const int64_t max_delay_ns_;
  int64_t window_start_ns_;
  int64_t busy_ns_ = 0;
  int64_t last_end_ns_ = 0;
  int64_t last_cost_ns_ = 0;
  double last_share_ = 0.0;
  bool spacing_ = false;
};

}  // namespace herald::net
