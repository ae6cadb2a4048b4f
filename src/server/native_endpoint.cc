#include "server/native_endpoint.h"

#include "core/disconnect.h"
#include "core/hub.h"
#include "net/worker.h"

namespace herald::server {

NativeEndpoint::NativeEndpoint(core::Hub& hub, net::Connection& conn, int64_t opened_ms)
    : conn_(conn), session_(hub, *this, opened_ms) {}

NativeEndpoint::~NativeEndpoint() = default;

net::Bytes NativeEndpoint::encodePush(std::string_view json, const broker::Publication&) {
  return ws::WebSocketConnection::prepareText(json);
}

void NativeEndpoint::onMessage(ws::Opcode opcode, std::string_view payload) {
  if (opcode != ws::Opcode::kText) {
    session_.disconnect(core::kDisconnectBadRequest, "binary frames are not supported");
    return;
  }
  session_.onMessage(payload);
}

void NativeEndpoint::onTick(int64_t now_ms) { session_.onTick(now_ms); }

void NativeEndpoint::onShutdown() { session_.disconnect(core::kDisconnectShutdown); }

core::SendStatus NativeEndpoint::sendPrepared(const net::Bytes& frame, const broker::Publication&) {
  return ws_->sendPrepared(frame);
}

core::SendStatus NativeEndpoint::sendJson(std::string_view json) {
  return ws_->sendMessage(ws::Opcode::kText, json);
}

void NativeEndpoint::close(uint16_t code, std::string_view reason, std::string_view final_json) {
  ws_->close(code, reason, final_json);
}

}  // namespace herald::server
