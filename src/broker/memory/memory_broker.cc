#include "broker/memory/memory_broker.h"

#include <chrono>
#include <random>

#include <fmt/format.h>

namespace herald::broker {

namespace {
int64_t wallNowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}
int64_t steadyMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}
// An idle channel without history is kept this long, so offsets stay stable
// for a publisher between subscribers.
constexpr uint32_t kMinIdleKeepS = 300;
}  // namespace

MemoryBroker::MemoryBroker(uint32_t idempotency_window_s)
    : epoch_seed_(std::random_device{}()),
      idempotency_window_ms_(int64_t{idempotency_window_s} * 1000) {}

void MemoryBroker::attach(std::vector<Deliver> workers) { workers_ = std::move(workers); }

MemoryBroker::Shard& MemoryBroker::shardFor(std::string_view channel) {
  return shards_[std::hash<std::string_view>{}(channel) % kShards];
}

// Epochs differ across restarts (random seed) and across incarnations of a
// channel within one run (counter), so an old position is never mistaken
// for a new one.
std::string MemoryBroker::newEpoch() {
  uint64_t n = epoch_counter_.fetch_add(1, std::memory_order_relaxed);
  return fmt::format("{:08x}{:x}", static_cast<uint32_t>(epoch_seed_ ^ (n * 0x9e3779b97f4a7c15ull)), n);
}

MemoryBroker::Channel& MemoryBroker::channelLocked(Shard& shard, std::string_view channel,
                                                   int64_t now_ms) {
  auto it = shard.channels.find(channel);
  if (it == shard.channels.end()) {
    it = shard.channels.emplace(std::string(channel), Channel{}).first;
    it->second.epoch = newEpoch();
    num_channels_.fetch_add(1, std::memory_order_relaxed);
  }
  it->second.last_active_ms = now_ms;
  return it->second;
}

void MemoryBroker::publish(const PublishRequest& request,
                           std::function<void(const PublishResult&)> done) {
  auto pub = std::make_shared<Publication>();
  pub->channel.assign(request.channel);
  pub->event_type.assign(request.event_type);
  pub->version = request.version;
  pub->payload.assign(request.payload);
  pub->publisher_user.assign(request.publisher_user);
  pub->publisher_client.assign(request.publisher_client);
  pub->timestamp_ms = wallNowMs();

  PublishResult result;
  Shard& shard = shardFor(request.channel);
  {
    std::lock_guard lock(shard.mu);
    int64_t now_ms = steadyMs();
    Channel& ch = channelLocked(shard, request.channel, now_ms);
    ch.ttl_s = std::max(ch.ttl_s, std::max(request.history_ttl_s, kMinIdleKeepS));
    result.epoch = ch.epoch;
    Channel::Seen* seen = nullptr;
    if (!request.idempotency_key.empty()) {
      auto [it, fresh] = ch.keys.try_emplace(std::string(request.idempotency_key));
      if (!fresh && it->second.expires_ms > now_ms) {
        result.offset = it->second.offset;
        result.duplicate = true;
      }
      seen = &it->second;
    }
    if (!result.duplicate) {
      pub->offset = ++ch.offset;
      result.offset = ch.offset;
      if (seen) {
        *seen = {ch.offset, now_ms + idempotency_window_ms_};
        if (ch.keys.size() >= ch.keys_purge_at) purgeExpiredKeys(ch, now_ms);
      }
      // Handing over under the lock keeps every worker's queue in offset order.
      PublicationPtr shared = std::move(pub);
      for (uint64_t mask = ch.workers; mask != 0; mask &= mask - 1) {
        workers_[static_cast<size_t>(__builtin_ctzll(mask))](shared);
      }
    }
  }
  done(result);
}

// Amortized: the next purge waits until the map has doubled again, so each
// publish pays O(1) on average however many keys are live.
void MemoryBroker::purgeExpiredKeys(Channel& ch, int64_t now_ms) {
  std::erase_if(ch.keys, [now_ms](const auto& kv) { return kv.second.expires_ms <= now_ms; });
  ch.keys_purge_at = std::max<size_t>(64, ch.keys.size() * 2);
}

void MemoryBroker::subscribe(std::string_view channel, unsigned worker,
                             std::function<void(const SubscribeResult&)> done) {
  SubscribeResult result;
  Shard& shard = shardFor(channel);
  {
    std::lock_guard lock(shard.mu);
    Channel& ch = channelLocked(shard, channel, steadyMs());
    ch.workers |= uint64_t{1} << worker;
    result.position.offset = ch.offset;
    result.position.epoch = ch.epoch;
  }
  done(result);
}

void MemoryBroker::unsubscribe(std::string_view channel, unsigned worker) {
  Shard& shard = shardFor(channel);
  std::lock_guard lock(shard.mu);
  auto it = shard.channels.find(channel);
  if (it == shard.channels.end()) return;
  it->second.workers &= ~(uint64_t{1} << worker);
  it->second.last_active_ms = steadyMs();
}

void MemoryBroker::sweep(int64_t now_ms) {
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    for (auto it = shard.channels.begin(); it != shard.channels.end();) {
      Channel& ch = it->second;
      purgeExpiredKeys(ch, now_ms);
      uint32_t keep_s = std::max(ch.ttl_s, kMinIdleKeepS);
      if (ch.workers == 0 && ch.keys.empty() &&
          now_ms - ch.last_active_ms > int64_t{keep_s} * 1000) {
        it = shard.channels.erase(it);
        num_channels_.fetch_sub(1, std::memory_order_relaxed);
      } else {
        ++it;
      }
    }
  }
}

}  // namespace herald::broker
