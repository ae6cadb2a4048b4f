// MemoryBroker: the embedded engine. Channel state (offset, epoch, history,
// presence, which workers subscribe) lives in memory, in shards guarded by
// mutexes. A publication is appended to history and handed to the workers
// while its shard is locked, so each worker's queue receives every channel's
// publications in offset order, and a subscriber's recovery (taken under the
// same lock) ends exactly where its live stream begins. The lock is taken
// once per publish, never per delivery. Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "broker/broker.h"
#include "broker/memory/history_ring.h"

namespace herald::broker {

class MemoryBroker : public Broker {
 public:
  // A publish that repeats an idempotency key within `idempotency_window_s`
  // of its first use gets the first offset back and is not delivered again.
  explicit MemoryBroker(uint32_t idempotency_window_s = 300);
  ~MemoryBroker() override;

  void attach(std::vector<Deliver> workers) override;
  void detach() override;
  void publish(const PublishRequest& request,
               std::function<void(const PublishResult&)> done) override;
  void subscribe(const SubscribeRequest& request,
                 std::function<void(const SubscribeResult&)> done) override;
  void unsubscribe(std::string_view channel, unsigned worker) override;
  void history(const HistoryRequest& request,
               std::function<void(const HistoryResult&)> done) override;
  void removeHistory(std::string_view channel,
                     std::function<void(const HistoryResult&)> done) override;
  void addPresence(std::string_view channel, const ClientInfo& client, bool notify) override;
  void removePresence(std::string_view channel, std::string_view client, bool notify) override;
  void presence(std::string_view channel,
                std::function<void(const PresenceResult&)> done) override;
  void presenceStats(std::string_view channel,
                     std::function<void(const PresenceStats&)> done) override;
  void sweep(int64_t now_ms) override;
  size_t numChannels() const override { return num_channels_.load(std::memory_order_relaxed); }

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  template <typename V>
  using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

  // Who is subscribed, by client id, and how many clients each user has.
  struct Presence {
    StringMap<ClientInfo> clients;
    StringMap<uint32_t> users;
  };
  struct Channel {
    uint64_t offset = 0;
    std::string epoch;
    uint64_t workers = 0;        // bit i: worker i has subscribers
    int64_t last_active_ms = 0;  // last publish, subscribe or read
    uint32_t ttl_s = 0;          // how long to keep an idle channel
    HistoryRing history;
    int64_t history_expires_ms = 0;  // last publish + history_ttl
    // Idempotency keys seen within the window, with the offset each got.
    struct Seen {
      uint64_t offset;
      int64_t expires_ms;
    };
    std::unordered_map<std::string, Seen> keys;
    size_t keys_purge_at = 64;  // purge expired keys when this many are held
    std::unique_ptr<Presence> presence;  // only while someone is present
  };
  struct Shard {
    std::mutex mu;
    StringMap<Channel> channels;
  };
  static constexpr size_t kShards = 64;

  Shard& shardFor(std::string_view channel);
  Channel& channelLocked(Shard& shard, std::string_view channel, int64_t now_ms);
  // channelLocked, with expired history dropped into *dropped and the
  // channel's current position in *position.
  Channel& readLocked(Shard& shard, std::string_view channel, Position* position,
                      std::vector<PublicationPtr>* dropped);
  std::string newEpoch();
  void purgeExpiredKeys(Channel& ch, int64_t now_ms);
  // Drops the channel's history if its time is up; what it held goes to *dropped.
  static void expireHistory(Channel& ch, int64_t now_ms, std::vector<PublicationPtr>* dropped);
  // Hands `pub` to every subscribed worker; the shard lock must be held.
  void fanOut(const Channel& ch, const PublicationPtr& pub);
  void notifyPresence(Channel& ch, std::string_view channel, Publication::Kind kind,
                      const ClientInfo& client);

  std::vector<Deliver> workers_;
  std::array<Shard, kShards> shards_;
  std::atomic<size_t> num_channels_{0};
  std::atomic<uint64_t> epoch_counter_{0};
  const uint64_t epoch_seed_;
  const int64_t idempotency_window_ms_;
};

}  // namespace herald::broker
