#include "core/user_rate_limiter.h"

#include <gtest/gtest.h>

namespace herald::core {
namespace {

TEST(UserRateLimiterTest, ZeroIsUnlimited) {
  UserRateLimiter limiter(0);
  EXPECT_FALSE(limiter.enabled());
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(limiter.take("u", 1, 0));
  EXPECT_EQ(limiter.size(), 0u);
}

TEST(UserRateLimiterTest, OneSecondOfBurstSharedByTheUsersConnections) {
  UserRateLimiter limiter(3);
  EXPECT_TRUE(limiter.take("u", 1, 1000));
  EXPECT_TRUE(limiter.take("u", 2, 1000));  // another connection, same user
  EXPECT_TRUE(limiter.take("u", 1, 1000));
  EXPECT_FALSE(limiter.take("u", 2, 1000));  // limit + 1
  EXPECT_TRUE(limiter.take("v", 3, 1000));   // another user has its own
  EXPECT_FALSE(limiter.take("u", 1, 1100));  // 0.3 of a token back
  EXPECT_TRUE(limiter.take("u", 1, 1400));   // one token back
}

TEST(UserRateLimiterTest, AnonymousConnectionsHaveABucketEach) {
  UserRateLimiter limiter(1);
  EXPECT_TRUE(limiter.take("", 1, 0));
  EXPECT_FALSE(limiter.take("", 1, 0));
  EXPECT_TRUE(limiter.take("", 2, 0));
}

TEST(UserRateLimiterTest, FractionalRatesHoldAtLeastOne) {
  UserRateLimiter limiter(0.5);
  EXPECT_TRUE(limiter.take("u", 1, 0));
  EXPECT_FALSE(limiter.take("u", 1, 1000));
  EXPECT_TRUE(limiter.take("u", 1, 2000));
}

TEST(UserRateLimiterTest, RefilledBucketsAreDropped) {
  UserRateLimiter limiter(2);
  EXPECT_TRUE(limiter.take("u", 1, 0));
  EXPECT_TRUE(limiter.take("", 9, 0));
  EXPECT_EQ(limiter.size(), 2u);
  EXPECT_TRUE(limiter.take("w", 2, 5000));  // the sweep drops u and #9
  EXPECT_EQ(limiter.size(), 1u);
}

}  // namespace
}  // namespace herald::core
