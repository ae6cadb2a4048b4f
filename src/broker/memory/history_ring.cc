#include "broker/memory/history_ring.h"

#include <algorithm>

namespace herald::broker {

namespace {
constexpr size_t kInitialSlots = 8;
}  // namespace

// Doubles the storage (up to capacity) and lays the ring out from slot 0.
void HistoryRing::grow(size_t capacity) {
  size_t want = std::min(capacity, std::max(kInitialSlots, slots_.size() * 2));
  std::vector<PublicationPtr> next(want);
  for (size_t i = 0; i < size_; ++i) next[i] = std::move(slots_[(head_ + i) % slots_.size()]);
  slots_ = std::move(next);
  head_ = 0;
}

void HistoryRing::append(PublicationPtr pub, size_t capacity, PublicationPtr* evicted) {
  if (capacity == 0) return;
  // A smaller capacity than before (not with a fixed configuration, but
  // cheap to honour): drop the oldest until one slot is free.
  while (size_ >= capacity) {
    *evicted = std::move(slots_[head_]);
    head_ = (head_ + 1) % slots_.size();
    --size_;
  }
  if (size_ == slots_.size()) grow(capacity);
  slots_[(head_ + size_) % slots_.size()] = std::move(pub);
  ++size_;
}

void HistoryRing::copy(uint64_t from, uint64_t to, size_t limit, bool reverse,
                       std::vector<PublicationPtr>* out) const {
  if (empty()) return;
  from = std::max(from, firstOffset());
  to = std::min(to, lastOffset());
  if (from > to || limit == 0) return;
  size_t n = std::min<uint64_t>(limit, to - from + 1);
  size_t first = from - firstOffset();
  size_t last = to - firstOffset();
  out->reserve(out->size() + n);
  for (size_t k = 0; k < n; ++k) out->push_back(at(reverse ? last - k : first + k));
}

void HistoryRing::clear(std::vector<PublicationPtr>* dropped) {
  dropped->reserve(dropped->size() + size_);
  for (size_t i = 0; i < size_; ++i) dropped->push_back(std::move(slots_[(head_ + i) % slots_.size()]));
  slots_ = {};
  head_ = 0;
  size_ = 0;
}

}  // namespace herald::broker
