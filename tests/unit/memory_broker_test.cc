// The in-memory broker: offsets and epochs, which workers receive what, in
// which order, idempotent publish and the sweeping of idle channels.
#include "broker/memory/memory_broker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
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

PublishResult publish(Broker& broker, std::string_view channel, std::string_view key = {},
                      uint32_t history_size = 0, uint32_t history_ttl_s = 300) {
  PublishRequest req;
  req.channel = channel;
  req.event_type = "t";
  req.payload = "{}";
  req.idempotency_key = key;
  req.history_size = history_size;
  req.history_ttl_s = history_ttl_s;
  PublishResult out;
  broker.publish(req, [&](const PublishResult& r) { out = r; });
  return out;
}

SubscribeResult subscribeFrom(Broker& broker, std::string_view channel, unsigned worker,
                              const Position* since, uint32_t max_recovery = 1000) {
  SubscribeRequest req;
  req.channel = channel;
  req.worker = worker;
  req.since = since;
  req.max_recovery = max_recovery;
  SubscribeResult out;
  broker.subscribe(req, [&](const SubscribeResult& r) { out = r; });
  return out;
}

Position subscribe(Broker& broker, std::string_view channel, unsigned worker) {
  return subscribeFrom(broker, channel, worker, nullptr).position;
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

// ----- history and recovery -------------------------------------------------

std::vector<uint64_t> offsetsOf(const std::vector<PublicationPtr>& pubs) {
  std::vector<uint64_t> out;
  for (const auto& p : pubs) out.push_back(p->offset);
  return out;
}

HistoryResult history(Broker& broker, std::string_view channel, const Position* since = nullptr,
                      int64_t limit = -1, bool reverse = false) {
  HistoryRequest req;
  req.channel = channel;
  req.since = since;
  req.limit = limit;
  req.reverse = reverse;
  HistoryResult out;
  broker.history(req, [&](const HistoryResult& r) { out = r; });
  return out;
}

TEST(MemoryBroker, HistoryKeepsTheLastEventsAndSharesThemWithTheWorkers) {
  MemoryBroker broker;
  Recorder rec(1);
  broker.attach(rec.delivers());
  subscribe(broker, "c", 0);
  for (int i = 0; i < 10; ++i) publish(broker, "c", {}, /*history_size=*/4);
  HistoryResult h = history(broker, "c");
  EXPECT_EQ(h.status, Status::kOk);
  EXPECT_EQ(h.position.offset, 10u);
  EXPECT_EQ(offsetsOf(h.publications), (std::vector<uint64_t>{7, 8, 9, 10}));
  EXPECT_EQ(h.publications.back().get(), rec.of(0).back().get()) << "the same object, not a copy";
}

TEST(MemoryBroker, HistorySinceLimitAndReverse) {
  MemoryBroker broker;
  broker.attach({});
  for (int i = 0; i < 10; ++i) publish(broker, "c", {}, 100);
  std::string epoch = history(broker, "c").position.epoch;
  Position since{6, epoch};
  EXPECT_EQ(offsetsOf(history(broker, "c", &since).publications), (std::vector<uint64_t>{7, 8, 9, 10}));
  EXPECT_EQ(offsetsOf(history(broker, "c", &since, 2).publications), (std::vector<uint64_t>{7, 8}));
  EXPECT_EQ(offsetsOf(history(broker, "c", &since, 2, true).publications), (std::vector<uint64_t>{5, 4}));
  EXPECT_EQ(offsetsOf(history(broker, "c", nullptr, 3, true).publications), (std::vector<uint64_t>{10, 9, 8}));
  EXPECT_TRUE(history(broker, "c", nullptr, 0).publications.empty()) << "limit 0: only the position";
  Position stale{3, "other-epoch"};
  EXPECT_EQ(history(broker, "c", &stale).status, Status::kUnrecoverablePosition);
  Position future{11, epoch};
  EXPECT_EQ(history(broker, "c", &future).status, Status::kUnrecoverablePosition);
}

TEST(MemoryBroker, RecoveryReturnsExactlyWhatWasMissed) {
  MemoryBroker broker;
  Recorder rec(2);
  broker.attach(rec.delivers());
  for (int i = 0; i < 5; ++i) publish(broker, "c", {}, 100);
  std::string epoch = history(broker, "c").position.epoch;
  Position since{2, epoch};
  SubscribeResult r = subscribeFrom(broker, "c", 1, &since);
  EXPECT_TRUE(r.recovered);
  EXPECT_EQ(r.position.offset, 5u);
  EXPECT_EQ(offsetsOf(r.publications), (std::vector<uint64_t>{3, 4, 5}));
  // The live stream starts right after the recovered events.
  publish(broker, "c", {}, 100);
  ASSERT_EQ(rec.of(1).size(), 1u);
  EXPECT_EQ(rec.of(1)[0]->offset, 6u);

  Position up_to_date{6, epoch};
  r = subscribeFrom(broker, "c", 0, &up_to_date);
  EXPECT_TRUE(r.recovered) << "nothing missed is a full recovery";
  EXPECT_TRUE(r.publications.empty());
}

TEST(MemoryBroker, RecoveryFailsPlainlyWhenItCannotBeComplete) {
  MemoryBroker broker;
  broker.attach({Broker::Deliver([](PublicationPtr) {})});
  for (int i = 0; i < 10; ++i) publish(broker, "c", {}, /*history_size=*/5);
  std::string epoch = history(broker, "c").position.epoch;

  Position evicted{2, epoch};  // offsets 3..5 are gone
  SubscribeResult r = subscribeFrom(broker, "c", 0, &evicted);
  EXPECT_FALSE(r.recovered);
  EXPECT_TRUE(r.publications.empty());
  EXPECT_EQ(r.position.offset, 10u);
  EXPECT_EQ(r.position.epoch, epoch);

  Position other_epoch{8, "nope"};
  EXPECT_FALSE(subscribeFrom(broker, "c", 0, &other_epoch).recovered);
  Position too_many{6, epoch};
  EXPECT_FALSE(subscribeFrom(broker, "c", 0, &too_many, /*max_recovery=*/3).recovered);
  EXPECT_TRUE(subscribeFrom(broker, "c", 0, &too_many, /*max_recovery=*/4).recovered);
  Position ahead{11, epoch};
  EXPECT_FALSE(subscribeFrom(broker, "c", 0, &ahead).recovered);
  // Without history only "nothing missed" recovers.
  publish(broker, "plain");
  Position plain{0, history(broker, "plain").position.epoch};
  EXPECT_FALSE(subscribeFrom(broker, "plain", 0, &plain).recovered);
}

TEST(MemoryBroker, DuplicatesDoNotEnterHistory) {
  MemoryBroker broker;
  broker.attach({});
  for (int i = 0; i < 10000; ++i) publish(broker, "c", std::to_string(i % 1000), 5000);
  HistoryResult h = history(broker, "c");
  EXPECT_EQ(h.publications.size(), 1000u);
  EXPECT_EQ(h.position.offset, 1000u);
}

TEST(MemoryBroker, HistoryExpiresAndAnIdleChannelIsThenFreed) {
  MemoryBroker broker;
  broker.attach({Broker::Deliver([](PublicationPtr) {})});
  for (int i = 0; i < 3; ++i) publish(broker, "c", {}, 10, /*history_ttl_s=*/1);
  Position sub = subscribe(broker, "c", 0);
  int64_t far_future = int64_t{1} << 50;
  broker.sweep(far_future);
  EXPECT_EQ(broker.numChannels(), 1u) << "subscribed: kept";
  HistoryResult h = history(broker, "c");
  EXPECT_TRUE(h.publications.empty()) << "expired history is dropped";
  EXPECT_EQ(h.position.offset, 3u) << "the offset stays";
  EXPECT_EQ(h.position.epoch, sub.epoch);
  Position since{1, sub.epoch};
  EXPECT_FALSE(subscribeFrom(broker, "c", 0, &since).recovered);

  broker.unsubscribe("c", 0);
  broker.sweep(far_future);
  EXPECT_EQ(broker.numChannels(), 0u);
}

TEST(MemoryBroker, RemoveHistoryKeepsThePosition) {
  MemoryBroker broker;
  broker.attach({});
  for (int i = 0; i < 3; ++i) publish(broker, "c", {}, 10);
  HistoryResult before = history(broker, "c");
  HistoryResult removed;
  broker.removeHistory("c", [&](const HistoryResult& r) { removed = r; });
  EXPECT_EQ(removed.position.offset, 3u);
  EXPECT_EQ(removed.position.epoch, before.position.epoch);
  EXPECT_TRUE(history(broker, "c").publications.empty());
  EXPECT_EQ(publish(broker, "c", {}, 10).offset, 4u);
}

// Recovery and the live stream meet without a gap or a duplicate, however
// publishers race the subscriber: what the worker gets live starts exactly
// after what the recovery returned.
TEST(MemoryBroker, RecoverySeamUnderConcurrentPublishers) {
  constexpr int kPublishers = 3, kEach = 20000;
  constexpr uint32_t kHistory = 2 * kPublishers * kEach;  // recovery can always succeed
  MemoryBroker broker;
  Recorder rec(2);
  broker.attach(rec.delivers());
  publish(broker, "c", {}, kHistory);
  std::string epoch = history(broker, "c").position.epoch;
  std::atomic<int> running{kPublishers};
  std::vector<std::thread> publishers;
  for (int t = 0; t < kPublishers; ++t) {
    publishers.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) publish(broker, "c", {}, kHistory);
      --running;
    });
  }
  std::vector<uint64_t> seen{1};
  int rounds = 0, recovered_events = 0, extra = 0;
  // Subscribe from the last offset seen, take some live ones, "disconnect";
  // alternate between two workers. One last round after the publishers end
  // (and at least two rounds).
  for (bool last_round = false; !last_round; ++rounds) {
    last_round = running.load() == 0 && rounds > 0;
    unsigned worker = rounds % 2;
    size_t live_before = rec.of(worker).size();
    Position since{seen.back(), epoch};
    SubscribeResult r = subscribeFrom(broker, "c", worker, &since, kHistory);
    EXPECT_TRUE(r.recovered) << "round " << rounds;
    recovered_events += static_cast<int>(r.publications.size());
    for (const auto& p : r.publications) seen.push_back(p->offset);
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    broker.unsubscribe("c", worker);
    std::vector<PublicationPtr> live = rec.of(worker);
    for (size_t i = live_before; i < live.size(); ++i) seen.push_back(live[i]->offset);
    if (!last_round) {
      // At least one event is missed while "disconnected", however the
      // publisher threads are scheduled.
      publish(broker, "c", {}, kHistory);
      ++extra;
    }
  }
  for (auto& t : publishers) t.join();
  ASSERT_EQ(seen.size(), static_cast<size_t>(kPublishers * kEach + 1 + extra));
  for (size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], i + 1) << "at " << i;
  EXPECT_GE(recovered_events, extra);
}

// ----- presence -------------------------------------------------------------

TEST(MemoryBroker, PresenceCountsClientsAndUsersAndNotifiesJoinAndLeave) {
  MemoryBroker broker;
  Recorder rec(1);
  broker.attach(rec.delivers());
  subscribe(broker, "room", 0);
  broker.addPresence("room", {"c1", "alice", R"({"name":"A"})"}, true);
  broker.addPresence("room", {"c2", "alice", ""}, true);
  broker.addPresence("room", {"c3", "bob", ""}, false);
  broker.addPresence("room", {"c3", "bob", ""}, true);  // again: no second join
  PresenceStats stats;
  broker.presenceStats("room", [&](const PresenceStats& r) { stats = r; });
  EXPECT_EQ(stats.num_clients, 3u);
  EXPECT_EQ(stats.num_users, 2u);
  PresenceResult p;
  broker.presence("room", [&](const PresenceResult& r) { p = r; });
  ASSERT_EQ(p.clients.size(), 3u);

  broker.removePresence("room", "c1", true);
  broker.removePresence("room", "nobody", true);
  broker.presenceStats("room", [&](const PresenceStats& r) { stats = r; });
  EXPECT_EQ(stats.num_clients, 2u);
  EXPECT_EQ(stats.num_users, 2u);

  std::vector<PublicationPtr> got = rec.of(0);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0]->kind, Publication::Kind::kJoin);
  EXPECT_EQ(got[0]->publisher_client, "c1");
  EXPECT_EQ(got[0]->payload, R"({"name":"A"})");
  EXPECT_EQ(got[1]->kind, Publication::Kind::kJoin);
  EXPECT_EQ(got[2]->kind, Publication::Kind::kLeave);
  EXPECT_EQ(got[2]->publisher_user, "alice");
  EXPECT_EQ(got[2]->offset, 0u) << "not part of the offset sequence";
}

TEST(MemoryBroker, DetachedBrokerDeliversNothing) {
  MemoryBroker broker;
  Recorder rec(1);
  broker.attach(rec.delivers());
  subscribe(broker, "c", 0);
  broker.detach();
  publish(broker, "c");
  broker.removePresence("c", "x", true);
  EXPECT_TRUE(rec.of(0).empty());
}

}  // namespace
}  // namespace herald::broker
