#include "ws/ws_connection.h"

#include <cstring>
#include <string>

#include "log/log.h"
#include "net/worker.h"
#include "ws/frame.h"

namespace herald::ws {

void Endpoint::onShutdown() {
  if (ws_) ws_->close(kCloseGoingAway, "server shutdown");
}

WebSocketConnection::WebSocketConnection(net::Connection& conn, const WebSocketOptions& options,
                                         metrics::WorkerMetrics& metrics)
    : conn_(conn),
      metrics_(metrics),
      parser_(options.max_message_bytes),
      ping_interval_ms_(options.ping_interval_ms),
      pong_timeout_ms_(options.pong_timeout_ms),
      last_ping_ms_(conn.worker().nowMs()) {
  if (options.deflate) {
    parser_.enableDeflate(*options.deflate);
    if (options.compress_outgoing) deflater_ = std::make_unique<Deflater>(*options.deflate);
  }
  metrics_.connections[static_cast<size_t>(metrics::Transport::kWebSocket)].add(1);
}

WebSocketConnection::~WebSocketConnection() {
  endpoint_.reset();  // before the members it may use
  metrics_.connections[static_cast<size_t>(metrics::Transport::kWebSocket)].add(-1);
}

void WebSocketConnection::setEndpoint(std::unique_ptr<Endpoint> endpoint) {
  endpoint_ = std::move(endpoint);
  endpoint_->bind(this);
}

net::Bytes WebSocketConnection::prepareText(std::string_view payload) {
  uint8_t header[kMaxFrameHeader];
  size_t hlen = encodeFrameHeader(header, Opcode::kText, payload.size());
  net::Bytes frame = net::Bytes::allocate(hlen + payload.size());
  std::memcpy(frame.data(), header, hlen);
  std::memcpy(frame.data() + hlen, payload.data(), payload.size());
  return frame;
}

net::Bytes WebSocketConnection::closeFrame(uint16_t code, std::string_view reason) {
  if (reason.size() > 123) reason = reason.substr(0, 123);
  uint8_t header[kMaxFrameHeader];
  size_t body = code == kCloseNoStatus ? 0 : 2 + reason.size();
  size_t hlen = encodeFrameHeader(header, Opcode::kClose, body);
  net::Bytes frame = net::Bytes::allocate(hlen + body);
  char* p = frame.data();
  std::memcpy(p, header, hlen);
  if (body > 0) {
    p[hlen] = static_cast<char>(code >> 8);
    p[hlen + 1] = static_cast<char>(code & 0xff);
    std::memcpy(p + hlen + 2, reason.data(), reason.size());
  }
  return frame;
}

net::SendResult WebSocketConnection::sendPrepared(const net::Bytes& frame) {
  if (close_sent_) return net::SendResult::kClosed;
  net::SendResult r = conn_.send(frame);
  if (r == net::SendResult::kOk) metrics_.bytes_out.inc(frame.size());
  return r;
}

net::SendResult WebSocketConnection::sendMessage(Opcode opcode, std::string_view payload) {
  if (close_sent_) return net::SendResult::kClosed;
  std::string compressed;
  bool rsv1 = false;
  if (deflater_ && !payload.empty() && deflater_->deflate(payload, &compressed)) {
    payload = compressed;
    rsv1 = true;
  }
  uint8_t header[kMaxFrameHeader];
  size_t hlen = encodeFrameHeader(header, opcode, payload.size(), true, rsv1);
  net::Bytes frame = net::Bytes::allocate(hlen + payload.size());
  std::memcpy(frame.data(), header, hlen);
  std::memcpy(frame.data() + hlen, payload.data(), payload.size());
  net::SendResult r = conn_.send(frame);
  if (r == net::SendResult::kOk) metrics_.bytes_out.inc(frame.size());
  return r;
}

void WebSocketConnection::close(uint16_t code, std::string_view reason,
                                std::string_view final_message) {
  if (close_sent_) return;
  if (!final_message.empty()) {
    if (conn_.queuedBytes() + final_message.size() + 16 > conn_.worker().limits().max_queue_bytes) {
      conn_.discardQueued();  // a slow consumer: what it has not read is lost anyway
    }
    conn_.sendFinal(prepareText(final_message));
  }
  close_sent_ = true;
  conn_.sendFinal(closeFrame(code, reason));
  conn_.closeAfterFlush();
}

void WebSocketConnection::fail(uint16_t close_code) {
  switch (close_code) {
    case kCloseInvalidPayload: metrics_.reject(metrics::Rejection::kWsInvalidUtf8); break;
    case kCloseMessageTooBig: metrics_.reject(metrics::Rejection::kWsTooLarge); break;
    default: metrics_.reject(metrics::Rejection::kWsProtocol); break;
  }
  log::conn(spdlog::level::debug, conn_.id(), "websocket protocol violation: close {}", close_code);
  closed_ = true;
  if (!close_sent_) {
    close_sent_ = true;
    conn_.sendFinal(closeFrame(close_code, ""));
  }
  conn_.closeAfterFlush();
}

void WebSocketConnection::onData(char* data, size_t len) {
  metrics_.bytes_in.inc(len);
  if (closed_) return;
  uint16_t code = parser_.feed(data, len, *this);
  if (code != 0 && !closed_) fail(code);
}

void WebSocketConnection::onMessage(Opcode opcode, std::string_view payload) {
  if (closed_ || close_sent_) return;
  endpoint_->onMessage(opcode, payload);
}

void WebSocketConnection::onPing(std::string_view payload) {
  if (closed_ || close_sent_) return;
  uint8_t header[kMaxFrameHeader];
  size_t hlen = encodeFrameHeader(header, Opcode::kPong, payload.size());
  net::Bytes frame = net::Bytes::allocate(hlen + payload.size());
  std::memcpy(frame.data(), header, hlen);
  std::memcpy(frame.data() + hlen, payload.data(), payload.size());
  conn_.sendFinal(std::move(frame));  // control frames are tiny; never refused
}

void WebSocketConnection::onPong(std::string_view) { ping_sent_ms_ = 0; }

void WebSocketConnection::onClose(uint16_t code, std::string_view reason) {
  closed_ = true;
  if (!close_sent_) {
    // Echo the peer's code (RFC 6455 section 5.5.1); no code if it sent none.
    close_sent_ = true;
    conn_.sendFinal(closeFrame(code, ""));
  }
  conn_.closeAfterFlush();
}

void WebSocketConnection::onTick(int64_t now_ms) {
  if (closed_) return;
  if (endpoint_) endpoint_->onTick(now_ms);
  if (close_sent_) return;
  if (ping_sent_ms_ != 0) {
    // Any input since the ping proves the peer alive, as a pong would.
    if (conn_.lastReadMs() >= ping_sent_ms_) {
      ping_sent_ms_ = 0;
    } else if (now_ms - ping_sent_ms_ >= pong_timeout_ms_) {
      log::conn(spdlog::level::debug, conn_.id(), "no pong in {} ms: closing", pong_timeout_ms_);
      closed_ = true;
      conn_.abort();
      return;
    }
  }
  if (ping_interval_ms_ > 0 && now_ms - last_ping_ms_ >= ping_interval_ms_) {
    last_ping_ms_ = now_ms;
    if (ping_sent_ms_ == 0) ping_sent_ms_ = now_ms;
    uint8_t header[kMaxFrameHeader];
    size_t hlen = encodeFrameHeader(header, Opcode::kPing, 0);
    conn_.sendFinal(net::Bytes::copyOf(std::string_view(reinterpret_cast<char*>(header), hlen)));
  }
}

void WebSocketConnection::onShutdown() {
  if (closed_ || close_sent_) return;
  if (endpoint_) {
    endpoint_->onShutdown();
  } else {
    close(kCloseGoingAway, "server shutdown");
  }
}

void WebSocketConnection::onClosed() {
  closed_ = true;
  endpoint_.reset();
}

}  // namespace herald::ws
