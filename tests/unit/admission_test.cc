// Admission: connection limits in total, per IP, and the per-IP connect rate.
#include "core/admission.h"

#include <gtest/gtest.h>

namespace herald::core {
namespace {

using Verdict = Admission::Verdict;

config::Limits limits(uint32_t total, uint32_t per_ip, double rate) {
  config::Limits l;
  l.max_connections = total;
  l.max_connections_per_ip = per_ip;
  l.connect_rate_per_ip = rate;
  return l;
}

TEST(Admission, TotalLimitAtAndOverAndAfterRelease) {
  Admission a(limits(2, 0, 0));
  EXPECT_EQ(a.admit("1.1.1.1", 0), Verdict::kAdmitted);
  EXPECT_EQ(a.admit("2.2.2.2", 0), Verdict::kAdmitted);
  EXPECT_EQ(a.admit("3.3.3.3", 0), Verdict::kTotal);
  EXPECT_EQ(a.connections(), 2u);
  a.release("1.1.1.1");
  EXPECT_EQ(a.admit("3.3.3.3", 0), Verdict::kAdmitted);
}

TEST(Admission, PerIpLimitLeavesOtherAddressesAlone) {
  Admission a(limits(100, 2, 0));
  EXPECT_EQ(a.admit("10.0.0.1", 0), Verdict::kAdmitted);
  EXPECT_EQ(a.admit("10.0.0.1", 0), Verdict::kAdmitted);
  EXPECT_EQ(a.admit("10.0.0.1", 0), Verdict::kPerIp);
  EXPECT_EQ(a.admit("10.0.0.2", 0), Verdict::kAdmitted);
  a.release("10.0.0.1");
  EXPECT_EQ(a.admit("10.0.0.1", 0), Verdict::kAdmitted);
  EXPECT_EQ(a.connections(), 3u);
}

TEST(Admission, ConnectRateIsATokenBucketWithOneSecondOfBurst) {
  Admission a(limits(100, 0, 4));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(a.admit("10.0.0.1", 1000), Verdict::kAdmitted) << i;
  EXPECT_EQ(a.admit("10.0.0.1", 1000), Verdict::kRate);
  EXPECT_EQ(a.admit("10.0.0.2", 1000), Verdict::kAdmitted) << "another IP has its own bucket";
  EXPECT_EQ(a.admit("10.0.0.1", 1249), Verdict::kRate) << "0.996 of a token";
  EXPECT_EQ(a.admit("10.0.0.1", 1260), Verdict::kAdmitted) << "a token after 260 ms";
  // Closing does not give tokens back: the rate is about connects.
  for (int i = 0; i < 5; ++i) a.release("10.0.0.1");
  EXPECT_EQ(a.admit("10.0.0.1", 1260), Verdict::kRate);
}

TEST(Admission, SlowRatesStillAllowOneConnect) {
  Admission a(limits(100, 0, 0.5));
  EXPECT_EQ(a.admit("10.0.0.1", 0), Verdict::kAdmitted);
  EXPECT_EQ(a.admit("10.0.0.1", 1000), Verdict::kRate);
  EXPECT_EQ(a.admit("10.0.0.1", 2000), Verdict::kAdmitted);
}

TEST(Admission, ForgottenAddressesStartWithAFullBucket) {
  Admission a(limits(100, 0, 1));
  EXPECT_EQ(a.admit("10.0.0.1", 0), Verdict::kAdmitted);
  a.release("10.0.0.1");
  // The sweep (every 10 s) drops the idle entry; a new one starts full.
  EXPECT_EQ(a.admit("10.0.0.9", 20'000), Verdict::kAdmitted);
  EXPECT_EQ(a.admit("10.0.0.1", 20'000), Verdict::kAdmitted);
  EXPECT_EQ(a.admit("10.0.0.1", 20'000), Verdict::kRate);
}

}  // namespace
}  // namespace herald::core
