#include "broker/memory/memory_broker.h"

#include <random>

#include <fmt/format.h>

#include "base/clock.h"

namespace herald::broker {

namespace {
using base::steadyNowMs;
using base::steadyNowNs;
using base::wallNowMs;
// An idle channel without history is kept this long, so offsets stay stable
// for a publisher between subscribers.
constexpr uint32_t kMinIdleKeepS = 300;
}  // namespace

MemoryBroker::MemoryBroker(uint32_t idempotency_window_s)
    : epoch_seed_(std::random_device{}()),
      idempotency_window_ms_(int64_t{idempotency_window_s} * 1000) {}

MemoryBroker::~MemoryBroker() = default;

void MemoryBroker::attach(std::vector<Deliver> workers) { workers_ = std::move(workers); }

void MemoryBroker::detach() {
  // Under every lock, so that no publish is half-way through the list.
  for (Shard& shard : shards_) shard.mu.lock();
  workers_.clear();
  for (Shard& shard : shards_) shard.mu.unlock();
}

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

MemoryBroker::Channel& MemoryBroker::readLocked(Shard& shard, std::string_view channel,
                                                Position* position, std::vector<PublicationPtr>* dropped) {
  int64_t now_ms = steadyNowMs();
  Channel& ch = channelLocked(shard, channel, now_ms);
  expireHistory(ch, now_ms, dropped);
  position->offset = ch.offset;
  position->epoch = ch.epoch;
  return ch;
}

void MemoryBroker::fanOut(const Channel& ch, const PublicationPtr& pub) {
  if (workers_.empty()) return;  // detached
  for (uint64_t mask = ch.workers; mask != 0; mask &= mask - 1) {
    workers_[static_cast<size_t>(__builtin_ctzll(mask))](pub);
  }
}

void MemoryBroker::expireHistory(Channel& ch, int64_t now_ms, std::vector<PublicationPtr>* dropped) {
  if (!ch.history.empty() && now_ms >= ch.history_expires_ms) ch.history.clear(dropped);
}

void MemoryBroker::publish(const PublishRequest& request,
                           std::function<void(const PublishResult&)> done) {
  count(Operation::kPublish);
  auto pub = std::make_shared<Publication>();
  pub->channel.assign(request.channel);
  pub->event_type.assign(request.event_type);
  pub->version = request.version;
  pub->payload.assign(request.payload);
  pub->publisher_user.assign(request.publisher_user);
  pub->publisher_client.assign(request.publisher_client);
  pub->timestamp_ms = wallNowMs();
  pub->accepted_ns = steadyNowNs();

  PublishResult result;
  // The publication history lets go of, released after the lock: freeing
  // its memory is no reason to make other publishers wait.
  PublicationPtr evicted;
  std::vector<PublicationPtr> dropped;
  Shard& shard = shardFor(request.channel);
  {
    std::lock_guard lock(shard.mu);
    int64_t now_ms = steadyNowMs();
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
      PublicationPtr shared = std::move(pub);
      if (request.history_size > 0) {
        // History that outlived its ttl is gone: the offsets it held must
        // not look continuous with the new event.
        expireHistory(ch, now_ms, &dropped);
        ch.history_expires_ms = now_ms + int64_t{request.history_ttl_s} * 1000;
        ch.history.append(shared, request.history_size, &evicted);
      }
      // Handing over under the lock keeps every worker's queue in offset order.
      fanOut(ch, shared);
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

void MemoryBroker::subscribe(const SubscribeRequest& request,
                             std::function<void(const SubscribeResult&)> done) {
  count(Operation::kSubscribe);
  SubscribeResult result;
  std::vector<PublicationPtr> dropped;
  Shard& shard = shardFor(request.channel);
  {
    std::lock_guard lock(shard.mu);
    Channel& ch = readLocked(shard, request.channel, &result.position, &dropped);
    ch.workers |= uint64_t{1} << request.worker;
    if (const Position* since = request.since) {
      // Recovered means: every publication after `since` is in the reply,
      // and every later one comes live (the worker's bit is set under this
      // same lock). Anything less is reported as not recovered.
      result.recovered = since->epoch == ch.epoch && since->offset <= ch.offset &&
                         ch.offset - since->offset <= request.max_recovery &&
                         ch.history.holds(since->offset + 1, ch.offset);
      if (result.recovered) {
        ch.history.copy(since->offset + 1, ch.offset, SIZE_MAX, false, &result.publications);
      }
    }
  }
  done(result);
}

void MemoryBroker::unsubscribe(std::string_view channel, unsigned worker) {
  count(Operation::kUnsubscribe);
  Shard& shard = shardFor(channel);
  std::lock_guard lock(shard.mu);
  auto it = shard.channels.find(channel);
  if (it == shard.channels.end()) return;
  it->second.workers &= ~(uint64_t{1} << worker);
  it->second.last_active_ms = steadyNowMs();
}

void MemoryBroker::history(const HistoryRequest& request,
                           std::function<void(const HistoryResult&)> done) {
  count(Operation::kHistory);
  HistoryResult result;
  std::vector<PublicationPtr> dropped;
  Shard& shard = shardFor(request.channel);
  {
    std::lock_guard lock(shard.mu);
    Channel& ch = readLocked(shard, request.channel, &result.position, &dropped);
    const Position* since = request.since;
    if (since && (since->epoch != ch.epoch || since->offset > ch.offset)) {
      result.status = Status::kUnrecoverablePosition;
    } else {
      size_t limit = request.limit < 0 ? SIZE_MAX : static_cast<size_t>(request.limit);
      uint64_t from = 1, to = ch.offset;
      if (since && !request.reverse) from = since->offset + 1;
      if (since && request.reverse) to = since->offset == 0 ? 0 : since->offset - 1;
      if (from <= to) ch.history.copy(from, to, limit, request.reverse, &result.publications);
    }
  }
  done(result);
}

void MemoryBroker::removeHistory(std::string_view channel,
                                 std::function<void(const HistoryResult&)> done) {
  count(Operation::kRemoveHistory);
  HistoryResult result;
  std::vector<PublicationPtr> dropped;
  Shard& shard = shardFor(channel);
  {
    std::lock_guard lock(shard.mu);
    readLocked(shard, channel, &result.position, &dropped).history.clear(&dropped);
  }
  done(result);
}

void MemoryBroker::notifyPresence(Channel& ch, std::string_view channel, Publication::Kind kind,
                                  const ClientInfo& client) {
  auto pub = std::make_shared<Publication>();
  pub->kind = kind;
  pub->channel.assign(channel);
  pub->publisher_client = client.client;
  pub->publisher_user = client.user;
  pub->payload = client.info;
  pub->timestamp_ms = wallNowMs();
  fanOut(ch, pub);
}

void MemoryBroker::addPresence(std::string_view channel, const ClientInfo& client, bool notify) {
  count(Operation::kAddPresence);
  Shard& shard = shardFor(channel);
  std::lock_guard lock(shard.mu);
  Channel& ch = channelLocked(shard, channel, steadyNowMs());
  if (!ch.presence) ch.presence = std::make_unique<Presence>();
  auto [it, fresh] = ch.presence->clients.try_emplace(client.client, client);
  if (!fresh) return;
  ++ch.presence->users[client.user];
  if (notify) notifyPresence(ch, channel, Publication::Kind::kJoin, client);
}

void MemoryBroker::removePresence(std::string_view channel, std::string_view client, bool notify) {
  count(Operation::kRemovePresence);
  Shard& shard = shardFor(channel);
  std::lock_guard lock(shard.mu);
  auto chit = shard.channels.find(channel);
  if (chit == shard.channels.end() || !chit->second.presence) return;
  Channel& ch = chit->second;
  Presence& p = *ch.presence;
  auto it = p.clients.find(client);
  if (it == p.clients.end()) return;
  ClientInfo gone = std::move(it->second);
  p.clients.erase(it);
  auto uit = p.users.find(gone.user);
  if (uit != p.users.end() && --uit->second == 0) p.users.erase(uit);
  if (p.clients.empty()) ch.presence.reset();
  ch.last_active_ms = steadyNowMs();
  if (notify) notifyPresence(ch, channel, Publication::Kind::kLeave, gone);
}

void MemoryBroker::presence(std::string_view channel,
                            std::function<void(const PresenceResult&)> done) {
  count(Operation::kPresence);
  PresenceResult result;
  {
    Shard& shard = shardFor(channel);
    std::lock_guard lock(shard.mu);
    auto it = shard.channels.find(channel);
    if (it != shard.channels.end() && it->second.presence) {
      const Presence& p = *it->second.presence;
      result.clients.reserve(p.clients.size());
      for (const auto& [id, info] : p.clients) result.clients.push_back(info);
    }
  }
  done(result);
}

void MemoryBroker::presenceStats(std::string_view channel,
                                 std::function<void(const PresenceStats&)> done) {
  count(Operation::kPresenceStats);
  PresenceStats result;
  {
    Shard& shard = shardFor(channel);
    std::lock_guard lock(shard.mu);
    auto it = shard.channels.find(channel);
    if (it != shard.channels.end() && it->second.presence) {
      result.num_clients = static_cast<uint32_t>(it->second.presence->clients.size());
      result.num_users = static_cast<uint32_t>(it->second.presence->users.size());
    }
  }
  done(result);
}

void MemoryBroker::sweep(int64_t now_ms) {
  for (Shard& shard : shards_) {
    std::vector<PublicationPtr> dropped;
    std::lock_guard lock(shard.mu);
    for (auto it = shard.channels.begin(); it != shard.channels.end();) {
      Channel& ch = it->second;
      purgeExpiredKeys(ch, now_ms);
      expireHistory(ch, now_ms, &dropped);
      uint32_t keep_s = std::max(ch.ttl_s, kMinIdleKeepS);
      if (ch.workers == 0 && ch.keys.empty() && ch.history.empty() && !ch.presence &&
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
