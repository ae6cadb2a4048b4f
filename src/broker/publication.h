// Publication: one event on one channel, as the broker ordered it. Made once
// per publish and shared, immutable, by every worker that delivers it (the
// shared_ptr count is touched once per worker, never per subscriber).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace herald::broker {

struct Publication {
  std::string channel;
  std::string event_type;
  int64_t version = 1;
  int64_t timestamp_ms = 0;  // server time, ms since the Unix epoch
  std::string payload;       // JSON text
  uint64_t offset = 0;       // per-channel sequence, from 1
  std::string publisher_user;
  std::string publisher_client;  // empty when published through the API
};

using PublicationPtr = std::shared_ptr<const Publication>;

}  // namespace herald::broker
