// EchoEndpoint: sends every message back as it came (/echo, enabled by
// --echo). It exists for WebSocket conformance testing. Worker thread only.
#pragma once

#include "ws/ws_connection.h"

namespace herald::server {

class EchoEndpoint : public ws::Endpoint {
 public:
  void onMessage(ws::Opcode opcode, std::string_view payload) override {
    ws_->sendMessage(opcode, payload);
  }
};

}  // namespace herald::server
