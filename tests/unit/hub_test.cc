// The hub: a worker's channel index and fan-out. Sessions run over a
// recording transport; the worker's loop is driven by hand (never started),
// so every step is deterministic.
#include "core/hub.h"

#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "broker/memory/memory_broker.h"
#include "config/config.h"
#include "core/node.h"
#include "core/session.h"
#include "net/worker.h"

namespace herald::core {
namespace {

class RecordingTransport : public Transport {
 public:
  explicit RecordingTransport(uint64_t id) : id_(id) {}

  WireFormat format() const override { return WireFormat::kWebSocketJson; }
  SendStatus sendPrepared(const net::Bytes& frame, const broker::Publication&) override {
    frames.push_back(frame);
    return SendStatus::kOk;
  }
  SendStatus sendJson(std::string_view json) override {
    replies.emplace_back(json);
    return SendStatus::kOk;
  }
  void close(uint16_t code, std::string_view, std::string_view) override { closed_with = code; }
  uint64_t connectionId() const override { return id_; }
  const std::string& remoteIp() const override { return ip_; }
  int64_t lastInputMs() const override { return 0; }

  std::vector<net::Bytes> frames;  // prepared pushes, as shared handles
  std::vector<std::string> replies;
  uint16_t closed_with = 0;

 private:
  uint64_t id_;
  std::string ip_ = "127.0.0.1";
};

// A prepared push is its JSON, unframed: the test reads what subscribers get.
net::Bytes plainJson(std::string_view json, const broker::Publication&) {
  return net::Bytes::copyOf(json);
}

config::Config anonymousConfig() {
  config::Overrides flags;
  flags.values["auth.allow_anonymous"] = "true";
  return config::load("", nullptr, flags);
}

class HubTest : public ::testing::Test {
 protected:
  HubTest()
      : config_(anonymousConfig()),
        broker_(300),
        node_(config_, broker_, nullptr),
        worker_(0, net::WorkerLimits{}),
        hub_(node_, worker_, metrics_) {
    Hub::setEncoder(WireFormat::kWebSocketJson, &plainJson);
    node_.addHub(&hub_);
    broker_.attach({[this](broker::PublicationPtr pub) { hub_.enqueue(std::move(pub)); }});
  }

  struct Client {
    std::unique_ptr<RecordingTransport> transport;
    std::unique_ptr<Session> session;
  };

  Client& connect() {
    Client c;
    c.transport = std::make_unique<RecordingTransport>(clients_.size() + 1);
    c.session = std::make_unique<Session>(hub_, *c.transport, 0);
    c.session->onMessage(R"({"id":1,"connect":{}})");
    clients_.push_back(std::move(c));
    return clients_.back();
  }

  void publish(std::string_view channel, std::string_view payload) {
    broker::PublishRequest req;
    req.channel = channel;
    req.event_type = "t";
    req.payload = payload;
    broker_.publish(req, [](const broker::PublishResult& r) {
      ASSERT_EQ(r.status, broker::Status::kOk);
    });
    run();
  }

  void run() { worker_.io().poll(); worker_.io().restart(); }

  config::Config config_;
  broker::MemoryBroker broker_;
  Node node_;
  net::Worker worker_;
  metrics::WorkerMetrics metrics_;
  Hub hub_;
  std::deque<Client> clients_;  // stable references for the tests
};

TEST_F(HubTest, EveryLocalSubscriberGetsTheSameEncodedFrame) {
  for (int i = 0; i < 3; ++i) connect().session->onMessage(R"({"id":2,"subscribe":{"channel":"news"}})");
  Client& other = connect();
  other.session->onMessage(R"({"id":2,"subscribe":{"channel":"sport"}})");
  run();

  publish("news", R"({"a":1})");

  ASSERT_EQ(clients_[0].transport->frames.size(), 1u);
  const char* shared = clients_[0].transport->frames[0].data();
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(clients_[i].transport->frames.size(), 1u);
    EXPECT_EQ(clients_[i].transport->frames[0].data(), shared) << "encoded once, shared";
  }
  std::string_view json = clients_[0].transport->frames[0].view();
  EXPECT_NE(json.find(R"("channel":"news")"), std::string_view::npos) << json;
  EXPECT_NE(json.find(R"("payload":{"a":1})"), std::string_view::npos) << json;
  EXPECT_NE(json.find(R"("offset":1)"), std::string_view::npos) << json;
  EXPECT_TRUE(other.transport->frames.empty()) << "another channel's subscriber";
  EXPECT_EQ(metrics_.delivered.get(), 3u);
}

TEST_F(HubTest, PublicationsArriveInOffsetOrder) {
  Client& c = connect();
  c.session->onMessage(R"({"id":2,"subscribe":{"channel":"news"}})");
  run();
  for (int i = 0; i < 5; ++i) {
    broker::PublishRequest req;
    req.channel = "news";
    req.event_type = "t";
    req.payload = "{}";
    broker_.publish(req, [](const broker::PublishResult&) {});
  }
  run();  // one drain of the inbox delivers all five
  ASSERT_EQ(c.transport->frames.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    std::string want = "\"offset\":" + std::to_string(i + 1);
    EXPECT_NE(c.transport->frames[i].view().find(want), std::string_view::npos);
  }
}

TEST_F(HubTest, UnsubscribeStopsDeliveryAndTheLastOneForgetsTheChannel) {
  Client& a = connect();
  Client& b = connect();
  a.session->onMessage(R"({"id":2,"subscribe":{"channel":"news"}})");
  b.session->onMessage(R"({"id":2,"subscribe":{"channel":"news"}})");
  run();
  EXPECT_EQ(hub_.channelCounts("*").at("news"), 2u);

  a.session->onMessage(R"({"id":3,"unsubscribe":{"channel":"news"}})");
  publish("news", "1");
  EXPECT_TRUE(a.transport->frames.empty());
  EXPECT_EQ(b.transport->frames.size(), 1u);
  EXPECT_EQ(hub_.channelCounts("*").at("news"), 1u);

  b.session->onMessage(R"({"id":3,"unsubscribe":{"channel":"news"}})");
  EXPECT_TRUE(hub_.channelCounts("*").empty());
  publish("news", "2");
  EXPECT_EQ(b.transport->frames.size(), 1u);
}

TEST_F(HubTest, AClosedSessionLeavesTheIndex) {
  Client& a = connect();
  a.session->onMessage(R"({"id":2,"subscribe":{"channel":"news"}})");
  run();
  EXPECT_EQ(hub_.numSessions(), 1u);
  a.session.reset();
  EXPECT_EQ(hub_.numSessions(), 0u);
  EXPECT_TRUE(hub_.channelCounts("*").empty());
  publish("news", "1");  // no subscriber: nothing to touch
}

TEST_F(HubTest, SubscribingAfterAPublicationStartsAfterIt) {
  publish("news", "1");
  Client& c = connect();
  c.session->onMessage(R"({"id":2,"subscribe":{"channel":"news"}})");
  run();
  ASSERT_FALSE(c.transport->replies.empty());
  EXPECT_NE(c.transport->replies.back().find(R"("offset":1)"), std::string::npos)
      << c.transport->replies.back();
  publish("news", "2");
  ASSERT_EQ(c.transport->frames.size(), 1u);
  EXPECT_NE(c.transport->frames[0].view().find(R"("offset":2)"), std::string_view::npos);
}

// The default namespace with history, presence and join/leave pushes.
class HubHistoryTest : public HubTest {
 protected:
  HubHistoryTest() {
    config::Namespace& ns = config_.namespaces.at(0);
    ns.history_size = 100;
    ns.presence = true;
    ns.join_leave = true;
  }

  void publishWithHistory(std::string_view channel, bool drain = true) {
    broker::PublishRequest req;
    req.channel = channel;
    req.event_type = "t";
    req.payload = "{}";
    req.history_size = 100;
    req.history_ttl_s = 300;
    broker_.publish(req, [](const broker::PublishResult&) {});
    if (drain) run();
  }

  std::string epochOf(std::string_view channel) {
    std::string epoch;
    broker::HistoryRequest req;
    req.channel = channel;
    broker_.history(req, [&](const broker::HistoryResult& r) { epoch = r.position.epoch; });
    return epoch;
  }
};

TEST_F(HubHistoryTest, RecoveredEventsComeInTheReplyThenLiveOnesOnceEach) {
  Client& watcher = connect();  // keeps the worker subscribed
  watcher.session->onMessage(R"({"id":2,"subscribe":{"channel":"news"}})");
  for (int i = 0; i < 3; ++i) publishWithHistory("news");
  // Offset 4 is published and sits in the worker's inbox, undelivered,
  // while the client subscribes from offset 1.
  publishWithHistory("news", /*drain=*/false);
  Client& c = connect();
  std::string epoch = epochOf("news");
  c.session->onMessage(R"({"id":2,"subscribe":{"channel":"news","since":{"offset":1,"epoch":")" + epoch +
                       R"("}}})");
  std::string reply = c.transport->replies.back();
  EXPECT_NE(reply.find(R"("recovered":true)"), std::string::npos) << reply;
  EXPECT_NE(reply.find(R"("offset":4,"epoch")"), std::string::npos) << reply;
  for (int off = 2; off <= 4; ++off) {
    EXPECT_NE(reply.find("\"offset\":" + std::to_string(off) + "}"), std::string::npos) << off << reply;
  }
  run();  // offset 4 leaves the inbox: already recovered, not delivered again
  EXPECT_TRUE(c.transport->frames.empty());
  publishWithHistory("news");
  ASSERT_EQ(c.transport->frames.size(), 1u);
  EXPECT_NE(c.transport->frames[0].view().find(R"("offset":5)"), std::string_view::npos);
}

TEST_F(HubHistoryTest, AnUnrecoverablePositionSaysSoWithTheCurrentOne) {
  publishWithHistory("news");
  Client& c = connect();
  c.session->onMessage(R"({"id":2,"subscribe":{"channel":"news","since":{"offset":0,"epoch":"old"}}})");
  std::string reply = c.transport->replies.back();
  EXPECT_NE(reply.find(R"("recovered":false)"), std::string::npos) << reply;
  EXPECT_NE(reply.find(R"("offset":1)"), std::string::npos) << reply;
  EXPECT_EQ(reply.find("events"), std::string::npos) << reply;
}

TEST_F(HubHistoryTest, HistoryCommand) {
  for (int i = 0; i < 5; ++i) publishWithHistory("news");
  Client& c = connect();
  c.session->onMessage(R"({"id":2,"history":{"channel":"news","limit":2,"reverse":true}})");
  std::string reply = c.transport->replies.back();
  EXPECT_NE(reply.find(R"({"id":2,"history":{"events":[{"eventType":"t")"), std::string::npos) << reply;
  EXPECT_LT(reply.find(R"("offset":5})"), reply.find(R"("offset":4})")) << reply;
  EXPECT_EQ(reply.find(R"("offset":3})"), std::string::npos) << reply;
  c.session->onMessage(R"({"id":3,"history":{"channel":"news","since":{"offset":1,"epoch":"x"}}})");
  EXPECT_NE(c.transport->replies.back().find(R"("code":112)"), std::string::npos);
}

TEST_F(HubHistoryTest, JoinAndLeaveReachTheOthersAndAClosedSessionLeaves) {
  Client& a = connect();
  a.session->onMessage(R"({"id":2,"subscribe":{"channel":"room"}})");
  run();
  Client& b = connect();
  b.session->onMessage(R"({"id":2,"subscribe":{"channel":"room"}})");
  run();
  ASSERT_EQ(a.transport->frames.size(), 1u);
  EXPECT_NE(a.transport->frames[0].view().find(R"("join":{"client":")"), std::string_view::npos);
  EXPECT_TRUE(b.transport->frames.empty()) << "no join push about oneself";

  a.session->onMessage(R"({"id":3,"presenceStats":{"channel":"room"}})");
  EXPECT_NE(a.transport->replies.back().find(R"({"numClients":2,"numUsers":1})"), std::string::npos)
      << a.transport->replies.back();

  b.session.reset();  // the connection died
  run();
  ASSERT_EQ(a.transport->frames.size(), 2u);
  EXPECT_NE(a.transport->frames[1].view().find(R"("leave":{"client":")"), std::string_view::npos);
  a.session->onMessage(R"({"id":4,"presence":{"channel":"room"}})");
  std::string reply = a.transport->replies.back();
  EXPECT_NE(reply.find(std::string(a.session->client())), std::string::npos) << reply;
  EXPECT_EQ(reply.find("},\""), std::string::npos) << "one entry: " << reply;
}

TEST_F(HubTest, HistoryAndPresenceNeedTheNamespaceToHaveThem) {
  Client& c = connect();
  c.session->onMessage(R"({"id":2,"history":{"channel":"news"}})");
  EXPECT_NE(c.transport->replies.back().find(R"("code":108)"), std::string::npos);
  c.session->onMessage(R"({"id":3,"presence":{"channel":"news"}})");
  EXPECT_NE(c.transport->replies.back().find(R"("code":108)"), std::string::npos);
}

}  // namespace
}  // namespace herald::core
