// NativeEndpoint: the native protocol v1 over WebSocket. It is the
// core::Transport of one Session: text messages go to the session, and the
// session's replies and pushes go out as text frames. Worker thread only.
#pragma once

#include <memory>

#include "broker/publication.h"
#include "core/session.h"
#include "core/transport.h"
#include "ws/ws_connection.h"

namespace herald::core {
class Hub;
}

namespace herald::server {

class NativeEndpoint : public ws::Endpoint, public core::Transport {
 public:
  // `opened_ms`: when the upgrade request began (the accept, for a first
  // request): the connect deadline counts from there.
  NativeEndpoint(core::Hub& hub, net::Connection& conn, int64_t opened_ms);
  ~NativeEndpoint() override;

  // ws::Endpoint
  void onMessage(ws::Opcode opcode, std::string_view payload) override;
  void onTick(int64_t now_ms) override;
  void onShutdown() override;

  // core::Transport
  core::WireFormat format() const override { return core::WireFormat::kWebSocketJson; }
  core::SendStatus sendPrepared(const net::Bytes& frame, const broker::Publication& pub) override;
  core::SendStatus sendJson(std::string_view json) override;
  void close(uint16_t code, std::string_view reason, std::string_view final_json) override;
  uint64_t connectionId() const override { return conn_.id(); }
  const std::string& remoteIp() const override { return conn_.remoteIp(); }
  int64_t lastInputMs() const override { return conn_.lastReadMs(); }

  // The hub's encoder for kWebSocketJson.
  static net::Bytes encodePush(std::string_view json, const broker::Publication& pub);

 private:
  net::Connection& conn_;
  core::Session session_;  // inline: one allocation less per connection
};

}  // namespace herald::server
