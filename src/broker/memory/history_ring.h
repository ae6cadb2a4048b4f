// HistoryRing: one channel's most recent publications, oldest first, held as
// references to the same immutable objects the workers deliver (never
// copies). Offsets in the ring are consecutive, so a lookup by offset is an
// index. The storage grows on demand up to the capacity, so a channel with a
// large history_size but few events costs little. Not thread-safe: the
// broker's shard lock guards it.
#pragma once

#include <cstdint>
#include <vector>

#include "broker/publication.h"

namespace herald::broker {

class HistoryRing {
 public:
  // Appends `pub`, whose offset must follow the newest one's (or anything
  // when empty). Over `capacity`, the oldest publication is moved to
  // *evicted, so that the caller can release it outside its lock.
  void append(PublicationPtr pub, size_t capacity, PublicationPtr* evicted);

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  // Valid only when not empty.
  uint64_t firstOffset() const { return at(0)->offset; }
  uint64_t lastOffset() const { return at(size_ - 1)->offset; }
  // Whether every offset in [from, to] is held (an empty range always is).
  bool holds(uint64_t from, uint64_t to) const {
    return from > to || (!empty() && firstOffset() <= from && to <= lastOffset());
  }

  // Appends the publications with offsets in [from, to] (clamped to what is
  // held) to *out, ascending, or descending with `reverse`; at most `limit`
  // of them (counted from `from`, or from `to` when reversed).
  void copy(uint64_t from, uint64_t to, size_t limit, bool reverse,
            std::vector<PublicationPtr>* out) const;

  // Empties the ring into *dropped (released by the caller, outside its lock).
  void clear(std::vector<PublicationPtr>* dropped);

 private:
  const PublicationPtr& at(size_t i) const { return slots_[(head_ + i) % slots_.size()]; }
  void grow(size_t capacity);

  std::vector<PublicationPtr> slots_;
  size_t head_ = 0;  // slot of the oldest
  size_t size_ = 0;
};

}  // namespace herald::broker
