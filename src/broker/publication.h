// Publication: one event on one channel, as the broker ordered it, or a
// presence change (join/leave) travelling the same path so that it keeps its
// place among the channel's events. Made once per publish and shared,
// immutable, by every worker that delivers it and by the channel's history
// (the shared_ptr count is touched once per worker, never per subscriber).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace herald::broker {

struct Publication {
  enum class Kind : uint8_t { kEvent, kJoin, kLeave };

  Kind kind = Kind::kEvent;
  std::string channel;
  std::string event_type;
  int64_t version = 1;
  int64_t timestamp_ms = 0;  // server time, ms since the Unix epoch
  std::string payload;       // JSON text; for join/leave the client's info (may be empty)
  uint64_t offset = 0;       // per-channel sequence, from 1; 0 for join/leave
  std::string publisher_user;
  std::string publisher_client;  // empty when published through the API; join/leave: who
  int64_t accepted_ns = 0;       // steady clock when this node's broker took it (latency metric)
};

using PublicationPtr = std::shared_ptr<const Publication>;

}  // namespace herald::broker
