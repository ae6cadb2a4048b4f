// Broker: the one seam between a node and the cluster. It orders every
// channel's publications (offsets, epoch), keeps history and presence, and
// carries each publication (and each join/leave) to every worker that has
// subscribers for its channel. The memory broker is the embedded default; a
// Redis broker scales out.
// Thread-safe: every worker calls it. Callbacks run on the calling worker's
// thread (the memory broker runs them before returning). Requests and the
// strings and positions they point to need to live only during the call.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/publication.h"

namespace herald::broker {

enum class Status : uint8_t {
  kOk,
  kUnavailable,
  kInternal,
  kUnrecoverablePosition,  // history: `since` names another epoch or a future offset
};

struct PublishRequest {
  std::string_view channel;
  std::string_view event_type;
  int64_t version = 1;
  std::string_view payload;          // JSON text
  std::string_view idempotency_key;  // empty = none
  std::string_view publisher_user;
  std::string_view publisher_client;
  uint32_t history_size = 0;         // from the channel's namespace; 0 = no history
  uint32_t history_ttl_s = 0;        // history is dropped this long after the last event
};

struct PublishResult {
  Status status = Status::kOk;
  uint64_t offset = 0;
  std::string epoch;
  bool duplicate = false;  // the idempotency key was seen: not delivered again
};

// A place in a channel's stream: the last offset seen and the epoch (the
// incarnation of the offset sequence) it belongs to.
struct Position {
  uint64_t offset = 0;
  std::string epoch;
};

struct SubscribeRequest {
  std::string_view channel;
  unsigned worker = 0;
  // Recovery: when set, the publications after *since are returned if the
  // epoch matches, there are at most max_recovery of them, and history still
  // holds every one.
  const Position* since = nullptr;
  uint32_t max_recovery = 0;
};

struct SubscribeResult {
  Status status = Status::kOk;
  // The channel's latest offset when the worker joined: publications after
  // it reach the worker through Deliver, those up to it are in `recovered`.
  Position position;
  bool recovered = false;
  std::vector<PublicationPtr> publications;  // recovered, in offset order
};

struct HistoryRequest {
  std::string_view channel;
  const Position* since = nullptr;  // forward: offsets > since; reverse: < since
  int64_t limit = -1;               // -1 = all that is kept; 0 = only the position
  bool reverse = false;             // newest first
};

struct HistoryResult {
  Status status = Status::kOk;
  Position position;                         // the channel's latest offset
  std::vector<PublicationPtr> publications;  // in the order asked for
};

// One subscriber in a channel's presence.
struct ClientInfo {
  std::string client;
  std::string user;
  std::string info;  // JSON text from the token's "info" claim; empty = none
};

struct PresenceResult {
  Status status = Status::kOk;
  std::vector<ClientInfo> clients;
};

struct PresenceStats {
  Status status = Status::kOk;
  uint32_t num_clients = 0;
  uint32_t num_users = 0;
};

// What a broker is asked to do, counted for the operator (/metrics).
enum class Operation : uint8_t {
  kPublish, kSubscribe, kUnsubscribe, kHistory, kRemoveHistory,
  kAddPresence, kRemovePresence, kPresence, kPresenceStats, kCount
};
inline constexpr std::string_view kOperationNames[] = {
    "publish", "subscribe", "unsubscribe", "history", "history_remove",
    "presence_add", "presence_remove", "presence", "presence_stats"};
static_assert(std::size(kOperationNames) == static_cast<size_t>(Operation::kCount));

class Broker {
 public:
  // How a publication reaches a worker: called on any thread, in offset
  // order per channel; it must hand the publication to the worker's loop.
  using Deliver = std::function<void(PublicationPtr)>;

  virtual ~Broker() = default;

  // Called once, before any other call, with one Deliver per worker.
  virtual void attach(std::vector<Deliver> workers) = 0;
  // Stops every delivery (the workers are gone); the rest keeps working.
  // Called once the workers have stopped, before they are destroyed.
  virtual void detach() = 0;

  virtual void publish(const PublishRequest& request,
                       std::function<void(const PublishResult&)> done) = 0;

  // Worker `request.worker` wants the channel's publications from now on
  // (idempotent), and maybe the ones it missed (see SubscribeRequest).
  virtual void subscribe(const SubscribeRequest& request,
                         std::function<void(const SubscribeResult&)> done) = 0;
  // Worker `worker` has no subscriber for the channel any more.
  virtual void unsubscribe(std::string_view channel, unsigned worker) = 0;

  virtual void history(const HistoryRequest& request,
                       std::function<void(const HistoryResult&)> done) = 0;
  // Drops the channel's history; its offset and epoch stay.
  virtual void removeHistory(std::string_view channel,
                             std::function<void(const HistoryResult&)> done) = 0;

  // Presence of one client on a channel. With `notify`, a join/leave
  // publication goes to the channel's subscribers like an event would.
  virtual void addPresence(std::string_view channel, const ClientInfo& client, bool notify) = 0;
  virtual void removePresence(std::string_view channel, std::string_view client, bool notify) = 0;
  virtual void presence(std::string_view channel,
                        std::function<void(const PresenceResult&)> done) = 0;
  virtual void presenceStats(std::string_view channel,
                             std::function<void(const PresenceStats&)> done) = 0;

  // Frees state of channels idle for long enough; call periodically.
  virtual void sweep(int64_t now_ms) {}

  // Channels known to the broker (for the API).
  virtual size_t numChannels() const = 0;

  // Calls of `op` so far.
  uint64_t operations(Operation op) const {
    return operations_[static_cast<size_t>(op)].load(std::memory_order_relaxed);
  }

 protected:
  // Brokers count each call once. Shared by the workers, but never on the
  // delivery path: a publish already takes the channel's lock, which costs
  // more than this relaxed increment.
  void count(Operation op) { operations_[static_cast<size_t>(op)].fetch_add(1, std::memory_order_relaxed); }

 private:
  std::array<std::atomic<uint64_t>, static_cast<size_t>(Operation::kCount)> operations_{};
};

}  // namespace herald::broker
