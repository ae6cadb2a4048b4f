// Transport: what a Session needs from the connection it lives on. The
// WebSocket and SSE endpoints implement it; the core knows nothing else of
// them. Used on the session's worker thread only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "broker/publication.h"
#include "net/bytes.h"
#include "net/send_result.h"

namespace herald::core {

// Wire formats a publication is prepared in, once per worker.
enum class WireFormat : uint8_t { kWebSocketJson = 0, kSse = 1, kCount };

using SendStatus = net::SendResult;

class Transport {
 public:
  virtual ~Transport() = default;
  virtual WireFormat format() const = 0;
  // A frame prepared in this transport's format from `pub`, shared with
  // other sessions (the publication is there for what a transport adds per
  // connection, such as SSE's resume cursor).
  virtual SendStatus sendPrepared(const net::Bytes& frame, const broker::Publication& pub) = 0;
  // One JSON message (reply or push) that the transport frames itself.
  virtual SendStatus sendJson(std::string_view json) = 0;
  // Closes with a disconnect code (3000-3011) after what is queued; `final`
  // bytes (the disconnect push) go out even past the queue limit.
  virtual void close(uint16_t code, std::string_view reason, std::string_view final_json) = 0;
  virtual uint64_t connectionId() const = 0;
  virtual const std::string& remoteIp() const = 0;
  // When the client last sent anything (worker clock, ms): idle timeout.
  virtual int64_t lastInputMs() const = 0;
};

}  // namespace herald::core
