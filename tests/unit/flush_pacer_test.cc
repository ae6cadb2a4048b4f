#include "net/flush_pacer.h"

#include <gtest/gtest.h>

namespace herald::net {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kSecond = 1000 * kMs;

// Rounds of `cost` ns every `period` ns over one second from `start`;
// returns when the last one ended.
int64_t runSecond(FlushPacer& pacer, int64_t start, int64_t cost, int64_t period) {
  int64_t t = start;
  for (; t + period <= start + kSecond; t += period) pacer.roundDone(t, t + cost);
  return start + kSecond;
}

TEST(FlushPacerTest, FlushesAtOnceWhileRoundsLeaveTimeToSpare) {
  FlushPacer pacer(2 * kMs, 0);
  int64_t now = runSecond(pacer, 0, 3 * kMs, 5 * kMs);  // 60% of the second in rounds
  EXPECT_FALSE(pacer.windowDone(now));
  EXPECT_FALSE(pacer.spacing());
  EXPECT_NEAR(pacer.lastShare(), 0.6, 0.01);
  EXPECT_EQ(pacer.delay(now), 0);
}

TEST(FlushPacerTest, SpacesRoundsOnceTheyFillTheSecondAndHoldsBackByTheLastCost) {
  FlushPacer pacer(2 * kMs, 0);
  int64_t now = runSecond(pacer, 0, 950'000, kMs);  // 95%
  EXPECT_TRUE(pacer.windowDone(now));
  EXPECT_TRUE(pacer.spacing());
  // The last round ended at now - 50 us after costing 950 us: the next may
  // start 950 us after that end.
  pacer.roundDone(now, now + kMs);
  EXPECT_EQ(pacer.delay(now + kMs), kMs);
  EXPECT_EQ(pacer.delay(now + kMs + 400'000), 600'000);
  EXPECT_EQ(pacer.delay(now + 3 * kMs), 0);
}

TEST(FlushPacerTest, HoldsBackAtMostTheMaximum) {
  FlushPacer pacer(2 * kMs, 0);
  int64_t now = runSecond(pacer, 0, 4 * kMs, 4 * kMs);  // 100%
  ASSERT_TRUE(pacer.windowDone(now));
  pacer.roundDone(now, now + 4 * kMs);
  EXPECT_EQ(pacer.delay(now + 4 * kMs), 2 * kMs);
}

TEST(FlushPacerTest, NeverHoldsBackASmallRound) {
  FlushPacer pacer(2 * kMs, 0);
  ASSERT_TRUE(pacer.windowDone(runSecond(pacer, 0, 950'000, kMs)));
  int64_t t = 2 * kSecond;
  pacer.roundDone(t, t + FlushPacer::kMinPacedRoundNs - 1);
  EXPECT_EQ(pacer.delay(t + FlushPacer::kMinPacedRoundNs), 0);
}

TEST(FlushPacerTest, KeepsSpacingUntilRoundsFillLessThanHalfASecond) {
  FlushPacer pacer(2 * kMs, 0);
  int64_t now = runSecond(pacer, 0, 950'000, kMs);
  ASSERT_TRUE(pacer.windowDone(now));
  // Spaced, the same load fills about 65%: still spacing (no flapping).
  now = runSecond(pacer, now, 2600 * 1000, 4 * kMs);
  EXPECT_FALSE(pacer.windowDone(now));
  EXPECT_TRUE(pacer.spacing());
  // The load falls: back to flushing at once.
  now = runSecond(pacer, now, 1 * kMs, 5 * kMs);  // 20%
  EXPECT_TRUE(pacer.windowDone(now));
  EXPECT_FALSE(pacer.spacing());
  EXPECT_EQ(pacer.delay(now), 0);
}

TEST(FlushPacerTest, ZeroMaximumNeverSpaces) {
  FlushPacer pacer(0, 0);
  EXPECT_FALSE(pacer.windowDone(runSecond(pacer, 0, kMs, kMs)));
  EXPECT_FALSE(pacer.spacing());
}

}  // namespace
}  // namespace herald::net
