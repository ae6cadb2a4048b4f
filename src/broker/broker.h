// Broker: the one seam between a node and the cluster. It orders every
// channel's publications (offsets, epoch), keeps history, and carries each
// publication to every worker that has subscribers for its channel. The
// memory broker is the embedded default; a Redis broker scales out.
// Thread-safe: every worker calls it. Callbacks run on the calling worker's
// thread (the memory broker runs them before returning).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/publication.h"

namespace herald::broker {

enum class Status : uint8_t { kOk, kUnavailable, kInternal };

struct PublishRequest {
  std::string_view channel;
  std::string_view event_type;
  int64_t version = 1;
  std::string_view payload;          // JSON text
  std::string_view idempotency_key;  // empty = none
  std::string_view publisher_user;
  std::string_view publisher_client;
  uint32_t history_size = 0;         // from the channel's namespace
  uint32_t history_ttl_s = 0;
};

struct PublishResult {
  Status status = Status::kOk;
  uint64_t offset = 0;
  std::string epoch;
  bool duplicate = false;  // the idempotency key was seen: not delivered again
};

struct Position {
  uint64_t offset = 0;
  std::string epoch;
};

struct SubscribeResult {
  Status status = Status::kOk;
  Position position;  // the channel's latest offset when the worker joined
};

class Broker {
 public:
  // How a publication reaches a worker: called on any thread, in offset
  // order per channel; it must hand the publication to the worker's loop.
  using Deliver = std::function<void(PublicationPtr)>;

  virtual ~Broker() = default;

  // Called once, before any other call, with one Deliver per worker.
  virtual void attach(std::vector<Deliver> workers) = 0;

  virtual void publish(const PublishRequest& request,
                       std::function<void(const PublishResult&)> done) = 0;

  // Worker `worker` wants the channel's publications from now on (idempotent).
  // Publications after the returned position are delivered to it.
  virtual void subscribe(std::string_view channel, unsigned worker,
                         std::function<void(const SubscribeResult&)> done) = 0;
  // Worker `worker` has no subscriber for the channel any more.
  virtual void unsubscribe(std::string_view channel, unsigned worker) = 0;

  // Frees state of channels idle for long enough; call periodically.
  virtual void sweep(int64_t now_ms) {}

  // Channels known to the broker (for the API).
  virtual size_t numChannels() const = 0;
};

}  // namespace herald::broker
