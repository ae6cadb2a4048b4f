// A log-bucketed latency histogram in the manner of HdrHistogram: values in
// nanoseconds, 128 sub-buckets per power of two, so a recorded value is known
// to within 1/128 (0.8%) of itself; values up to 2^40 ns (about 18 minutes).
//
// Thread-safety: one writer and any number of readers. Counters are relaxed
// atomics, so the histogram may live in memory shared between processes and a
// progress reporter may read it while a shard records; record() allocates
// nothing and costs a few instructions.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace herald::bench {

class Histogram {
 public:
  static constexpr int kSubBits = 7;                    // 128 sub-buckets
  static constexpr int kSubCount = 1 << kSubBits;
  static constexpr int kMaxBits = 40;                   // 2^40 ns
  static constexpr size_t kBuckets = (kMaxBits - kSubBits + 1) * kSubCount;

  Histogram() { reset(); }
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void record(uint64_t value_ns) {
    const size_t i = bucketOf(value_ns);
    bump(counts_[i], 1);
    bump(total_, 1);
    bump(sum_, value_ns);
    if (value_ns < min_.load(std::memory_order_relaxed)) min_.store(value_ns, std::memory_order_relaxed);
    if (value_ns > max_.load(std::memory_order_relaxed)) max_.store(value_ns, std::memory_order_relaxed);
  }

  void reset();
  // Adds every count of `other` (read with relaxed loads) to this one.
  void add(const Histogram& other);
  // this = a - b, bucket by bucket (for the counts recorded between two
  // snapshots); min and max become those of the remaining buckets.
  void setDifference(const Histogram& a, const Histogram& b);

  uint64_t count() const { return total_.load(std::memory_order_relaxed); }
  uint64_t min() const { return count() ? min_.load(std::memory_order_relaxed) : 0; }
  uint64_t max() const { return max_.load(std::memory_order_relaxed); }
  double mean() const { return count() ? double(sum_.load(std::memory_order_relaxed)) / double(count()) : 0; }
  // The value at percentile `p` (0..100): the midpoint of the bucket that
  // holds it, clamped to [min, max]. 0 when empty.
  uint64_t percentile(double p) const;

  uint64_t bucketCount(size_t i) const { return counts_[i].load(std::memory_order_relaxed); }
  static size_t bucketOf(uint64_t v);
  static uint64_t bucketLow(size_t i);
  static uint64_t bucketWidth(size_t i);

 private:
  static void bump(std::atomic<uint64_t>& c, uint64_t by) {
    c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }

  std::atomic<uint64_t> counts_[kBuckets];
  std::atomic<uint64_t> total_;
  std::atomic<uint64_t> sum_;
  std::atomic<uint64_t> min_;
  std::atomic<uint64_t> max_;
};

inline size_t Histogram::bucketOf(uint64_t v) {
  constexpr uint64_t kLinear = uint64_t{2} << kSubBits;  // exact below 256
  if (v < kLinear) return size_t(v);
  const int top = 63 - __builtin_clzll(v);
  if (top >= kMaxBits) return kBuckets - 1;
  const int shift = top - kSubBits;
  return (size_t(shift) << kSubBits) + size_t(v >> shift);
}

}  // namespace herald::bench
