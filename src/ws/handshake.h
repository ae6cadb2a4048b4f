// The server side of the WebSocket opening handshake (RFC 6455 section 4.2):
// validates an upgrade request and builds the 101 response or the refusal.
// Stateless and thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "http/request.h"
#include "ws/deflate.h"

namespace herald::ws {

struct HandshakeResult {
  // 101 on success; otherwise 400 (malformed), 426 (wrong version: the
  // response carries "Sec-WebSocket-Version: 13") or 405 (not GET).
  int status = 400;
  // The complete HTTP response to send, success or refusal (JSON error body).
  std::string response;
  // Negotiated permessage-deflate, if the client offered it and allowed.
  std::optional<DeflateParams> deflate;
  const char* reason = "";  // short reason on refusal
};

// Checks method GET, HTTP/1.1, Upgrade: websocket, Connection: upgrade,
// Sec-WebSocket-Key (16 bytes base64) and Sec-WebSocket-Version: 13.
HandshakeResult acceptHandshake(const http::Request& request, bool allow_deflate);

// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
std::string computeAcceptKey(std::string_view key);

}  // namespace herald::ws
