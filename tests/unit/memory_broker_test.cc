// The in-memory broker: offsets and epochs, which workers receive what, in
// which order, idempotent publish and the sweeping of idle channels.
#include "broker/memory/memory_broker.h"

#include <gtest/gtest.h>

#include <mutex>
#include <thread>
#include <vector>

namespace herald::broker {
namespace {

// Records, per worker, what the broker handed over, as a server's worker
// inboxes would receive it.
class Recorder {
 public:
  explicit Recorder(unsigned workers) : received_(workers) {}

  std::vector<Broker::Deliver> delivers() {
    std::vector<Broker::Deliver> out;
    for (unsigned i = 0; i < received_.size(); ++i) {
      out.push_back([this, i](PublicationPtr pub) {
        std::lock_guard lock(mu_);
        received_[i].push_back(std::move(pub));
      });
    }
    return out;
  }
  std::vector<PublicationPtr> of(unsigned worker) {
    std::lock_guard lock(mu_);
    return received_[worker];
  }

 private:
  std::mutex mu_;
  std::vector<std::vector<PublicationPtr>> received_;
};

PublishResult publish(Broker& broker, std::string_view channel, std::string_view key = {}) {
  PublishRequest req;
  req.channel = channel;
  req.event_type = "t";
  req.payload = "{}";
  req.idempotency_key = key;
  PublishResult out;
  broker.publish(req, [&](const PublishResult& r) { out = r; });
  return out;
}

Position subscribe(Broker& broker, std::string_view channel, unsigned worker) {
  Position out;
  broker.subscribe(channel, worker, [&](const SubscribeResult& r) { out = r.position; });
  return out;
}

TEST(MemoryBroker, OffsetsCountFromOnePerChannelWithAStableEpoch) {
  MemoryBroker broker;
  Recorder rec(1);
  broker.attach(rec.delivers());
  PublishResult a1 = publish(broker, "a");
  PublishResult a2 = publish(broker, "a");
  PublishResult b1 = publish(broker, "b");
  EXPECT_EQ(a1.offset, 1u);
  EXPECT_EQ(a2.offset, 2u);
  EXPECT_EQ(b1.offset, 1u);
  EXPECT_EQ(a1.epoch, a2.epoch);
  EXPECT_NE(a1.epoch, b1.epoch);
  EXPECT_FALSE(a1.epoch.empty());
  EXPECT_EQ(broker.numChannels(), 2u);
}

TEST(MemoryBroker, EpochsDifferBetweenBrokerInstances) {
  MemoryBroker first, second;
  first.attach({});
  second.attach({});
  EXPECT_NE(publish(first, "a").epoch, publish(second, "a").epoch);
}

TEST(MemoryBroker, DeliversOnlyToSubscribedWorkersAfterTheirPosition) {
  MemoryBroker broker;
  Recorder rec(3);
  broker.attach(rec.delivers());
  publish(broker, "news");
  Position pos = subscribe(broker, "news", 2);
  EXPECT_EQ(pos.offset, 1u);
  publish(broker, "news");
  publish(broker, "other");
  EXPECT_TRUE(rec.of(0).empty());
  EXPECT_TRUE(rec.of(1).empty());
  ASSERT_EQ(rec.of(2).size(), 1u);
  EXPECT_EQ(rec.of(2)[0]->channel, "news");
  EXPECT_EQ(rec.of(2)[0]->offset, 2u);

  broker.unsubscribe("news", 2);
  publish(broker, "news");
  EXPECT_EQ(rec.of(2).size(), 1u);
}

TEST(MemoryBroker, EveryWorkerSeesOneOrderUnderConcurrentPublishers) {
  MemoryBroker broker;
  Recorder rec(4);
  broker.attach(rec.delivers());
  for (unsigned w = 0; w < 4; ++w) subscribe(broker, "c", w);
  constexpr int kThreads = 4, kEach = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) publish(broker, "c");
    });
  }
  for (auto& t : threads) t.join();
  for (unsigned w = 0; w < 4; ++w) {
    std::vector<PublicationPtr> got = rec.of(w);
    ASSERT_EQ(got.size(), size_t{kThreads * kEach});
    for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i]->offset, i + 1) << "worker " << w;
  }
}

TEST(MemoryBroker, ARepeatedIdempotencyKeyGetsTheFirstOffsetAndIsNotDelivered) {
  MemoryBroker broker;
  Recorder rec(1);
  broker.attach(rec.delivers());
  subscribe(broker, "c", 0);
  PublishResult first = publish(broker, "c", "k1");
  PublishResult again = publish(broker, "c", "k1");
  PublishResult other = publish(broker, "c", "k2");
  EXPECT_EQ(first.offset, 1u);
  EXPECT_FALSE(first.duplicate);
  EXPECT_EQ(again.offset, 1u);
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(other.offset, 2u);
  EXPECT_EQ(rec.of(0).size(), 2u);
  // Keys are per channel.
  EXPECT_FALSE(publish(broker, "d", "k1").duplicate);
}

TEST(MemoryBroker, ManyKeysStayDeduplicatedAcrossPurges) {
  MemoryBroker broker;
  broker.attach({});
  for (int round = 0; round < 10; ++round) {
    for (int k = 0; k < 1000; ++k) publish(broker, "c", "key" + std::to_string(k));
  }
  EXPECT_EQ(publish(broker, "c").offset, 1001u);
}

TEST(MemoryBroker, AKeyIsForgottenAfterTheWindow) {
  MemoryBroker broker(/*idempotency_window_s=*/0);
  broker.attach({});
  EXPECT_EQ(publish(broker, "c", "k").offset, 1u);
  EXPECT_EQ(publish(broker, "c", "k").offset, 2u);
}

TEST(MemoryBroker, SweepFreesIdleChannelsButKeepsSubscribedOnes) {
  MemoryBroker broker(0);
  Recorder rec(1);
  broker.attach(rec.delivers());
  publish(broker, "idle");
  subscribe(broker, "busy", 0);
  EXPECT_EQ(broker.numChannels(), 2u);
  int64_t far_future = int64_t{1} << 50;
  broker.sweep(far_future);
  EXPECT_EQ(broker.numChannels(), 1u);
  // A channel that comes back starts a new incarnation: offset 1, new epoch.
  EXPECT_EQ(publish(broker, "idle").offset, 1u);
}

}  // namespace
}  // namespace herald::broker
