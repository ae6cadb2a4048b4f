// HistoryRing: the bounded, growing ring of one channel's recent
// publications, looked up by offset.
#include "broker/memory/history_ring.h"

#include <gtest/gtest.h>

namespace herald::broker {
namespace {

PublicationPtr pub(uint64_t offset) {
  auto p = std::make_shared<Publication>();
  p->offset = offset;
  return p;
}

std::vector<uint64_t> offsets(const std::vector<PublicationPtr>& pubs) {
  std::vector<uint64_t> out;
  for (const auto& p : pubs) out.push_back(p->offset);
  return out;
}

TEST(HistoryRing, KeepsTheNewestUpToCapacityAndHandsBackTheEvicted) {
  HistoryRing ring;
  PublicationPtr evicted;
  for (uint64_t i = 1; i <= 5; ++i) ring.append(pub(i), 3, &evicted);
  EXPECT_EQ(ring.size(), 3u);
  EXPECT_EQ(ring.firstOffset(), 3u);
  EXPECT_EQ(ring.lastOffset(), 5u);
  ASSERT_TRUE(evicted);
  EXPECT_EQ(evicted->offset, 2u);
}

TEST(HistoryRing, HoldsAnswersForRangesIncludingTheEmptyOne) {
  HistoryRing ring;
  PublicationPtr evicted;
  EXPECT_TRUE(ring.holds(5, 4)) << "an empty range is always held";
  EXPECT_FALSE(ring.holds(1, 1));
  for (uint64_t i = 1; i <= 20; ++i) ring.append(pub(i), 10, &evicted);
  EXPECT_TRUE(ring.holds(11, 20));
  EXPECT_FALSE(ring.holds(10, 20));
  EXPECT_FALSE(ring.holds(11, 21));
}

TEST(HistoryRing, CopiesForwardAndBackwardWithLimits) {
  HistoryRing ring;
  PublicationPtr evicted;
  // Past several growths and wrap-arounds.
  for (uint64_t i = 1; i <= 100; ++i) ring.append(pub(i), 37, &evicted);
  std::vector<PublicationPtr> out;
  ring.copy(90, 95, SIZE_MAX, false, &out);
  EXPECT_EQ(offsets(out), (std::vector<uint64_t>{90, 91, 92, 93, 94, 95}));
  out.clear();
  ring.copy(1, 100, 3, false, &out);
  EXPECT_EQ(offsets(out), (std::vector<uint64_t>{64, 65, 66})) << "clamped to what is held";
  out.clear();
  ring.copy(1, 100, 3, true, &out);
  EXPECT_EQ(offsets(out), (std::vector<uint64_t>{100, 99, 98}));
  out.clear();
  ring.copy(1, 10, SIZE_MAX, false, &out);
  EXPECT_TRUE(out.empty());
}

TEST(HistoryRing, SharesThePublicationAndClearHandsEverythingBack) {
  HistoryRing ring;
  PublicationPtr evicted;
  PublicationPtr p = pub(1);
  ring.append(p, 10, &evicted);
  EXPECT_EQ(p.use_count(), 2) << "a reference, not a copy";
  std::vector<PublicationPtr> dropped;
  ring.clear(&dropped);
  EXPECT_TRUE(ring.empty());
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0].get(), p.get());
}

}  // namespace
}  // namespace herald::broker
