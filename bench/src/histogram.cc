#include "histogram.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace herald::bench {

void Histogram::reset() {
  for (auto& c : counts_) c.store(0, std::memory_order_relaxed);
  total_.store(0, std::memory_order_relaxed);
  sum_.store(0, std::memory_order_relaxed);
  min_.store(std::numeric_limits<uint64_t>::max(), std::memory_order_relaxed);
  max_.store(0, std::memory_order_relaxed);
}

uint64_t Histogram::bucketLow(size_t i) {
  if (i < (size_t{2} << kSubBits)) return i;
  const size_t shift = (i >> kSubBits) - 1;
  const uint64_t mantissa = (i & (kSubCount - 1)) + kSubCount;
  return mantissa << shift;
}

uint64_t Histogram::bucketWidth(size_t i) {
  if (i < (size_t{2} << kSubBits)) return 1;
  return uint64_t{1} << ((i >> kSubBits) - 1);
}

void Histogram::add(const Histogram& other) {
  const uint64_t n = other.count();
  if (n == 0) return;
  for (size_t i = 0; i < kBuckets; ++i) {
    const uint64_t c = other.bucketCount(i);
    if (c) bump(counts_[i], c);
  }
  bump(total_, n);
  bump(sum_, other.sum_.load(std::memory_order_relaxed));
  min_.store(std::min(min_.load(std::memory_order_relaxed), other.min()), std::memory_order_relaxed);
  max_.store(std::max(max(), other.max()), std::memory_order_relaxed);
}

void Histogram::setDifference(const Histogram& a, const Histogram& b) {
  reset();
  uint64_t total = 0;
  uint64_t sum = 0;
  size_t first = kBuckets, last = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    const uint64_t ca = a.bucketCount(i), cb = b.bucketCount(i);
    const uint64_t c = ca > cb ? ca - cb : 0;
    counts_[i].store(c, std::memory_order_relaxed);
    if (c) {
      total += c;
      sum += c * (bucketLow(i) + bucketWidth(i) / 2);
      if (first == kBuckets) first = i;
      last = i;
    }
  }
  total_.store(total, std::memory_order_relaxed);
  sum_.store(sum, std::memory_order_relaxed);
  if (total) {
    min_.store(std::max(bucketLow(first), a.min()), std::memory_order_relaxed);
    max_.store(std::min(bucketLow(last) + bucketWidth(last) - 1, a.max()), std::memory_order_relaxed);
  }
}

uint64_t Histogram::percentile(double p) const {
  const uint64_t n = count();
  if (n == 0) return 0;
  if (p <= 0) return min();
  if (p >= 100) return max();
  // The rank of the sample at p: the smallest k with k/n >= p/100.
  uint64_t rank = uint64_t(std::ceil(p / 100.0 * double(n)));
  rank = std::clamp<uint64_t>(rank, 1, n);
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += bucketCount(i);
    if (seen >= rank) {
      const uint64_t mid = bucketLow(i) + (bucketWidth(i) - 1) / 2;
      return std::clamp(mid, min(), max());
    }
  }
  return max();
}

}  // namespace herald::bench
