// WebSocketConnection: the handler of a connection after the upgrade. It
// runs the frame parser over incoming bytes, answers pings, sends its own
// pings and drops a peer that stops answering, performs the close
// handshake, and hands whole messages to an Endpoint (the native protocol,
// or the echo service). Lives on its worker's thread, owned by its
// net::Connection; it owns the endpoint.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "metrics/metrics.h"
#include "net/connection.h"
#include "ws/deflate.h"
#include "ws/message_parser.h"

namespace herald::ws {

class WebSocketConnection;

class Endpoint {
 public:
  virtual ~Endpoint() = default;
  virtual void onMessage(Opcode opcode, std::string_view payload) = 0;
  virtual void onTick(int64_t now_ms) {}
  // The server is going down; default: close with 1001.
  virtual void onShutdown();
  void bind(WebSocketConnection* ws) { ws_ = ws; }

 protected:
  WebSocketConnection* ws_ = nullptr;
};

struct WebSocketOptions {
  size_t max_message_bytes = 64 * 1024;
  int64_t ping_interval_ms = 25000;
  int64_t pong_timeout_ms = 10000;
  std::optional<DeflateParams> deflate;  // negotiated permessage-deflate
  bool compress_outgoing = false;        // compress sendMessage() payloads
};

class WebSocketConnection : public net::ConnectionHandler, private MessageHandler {
 public:
  WebSocketConnection(net::Connection& conn, const WebSocketOptions& options,
                      metrics::WorkerMetrics& metrics);
  ~WebSocketConnection() override;

  void setEndpoint(std::unique_ptr<Endpoint> endpoint);

  // A frame prepared once (see prepareText) and shared by many connections.
  net::SendResult sendPrepared(const net::Bytes& frame);
  // Frames one message (compressing it if so negotiated and enabled).
  net::SendResult sendMessage(Opcode opcode, std::string_view payload);
  // Sends a Close frame with `code` and closes once it is out. With
  // `final_message`, that text message goes first, even past the queue limit
  // (everything else still queued is dropped when the queue overflowed).
  void close(uint16_t code, std::string_view reason, std::string_view final_message = {});

  // An unmasked, uncompressed text frame of `payload`.
  static net::Bytes prepareText(std::string_view payload);

  net::Connection& connection() { return conn_; }

  // net::ConnectionHandler
  void onData(char* data, size_t len) override;
  void onTick(int64_t now_ms) override;
  void onShutdown() override;
  void onClosed() override;

 private:
  // MessageHandler
  void onMessage(Opcode opcode, std::string_view payload) override;
  void onPing(std::string_view payload) override;
  void onPong(std::string_view payload) override;
  void onClose(uint16_t code, std::string_view reason) override;

  static net::Bytes closeFrame(uint16_t code, std::string_view reason);
  void fail(uint16_t close_code);

  net::Connection& conn_;
  metrics::WorkerMetrics& metrics_;
  MessageParser parser_;
  std::unique_ptr<Deflater> deflater_;
  std::unique_ptr<Endpoint> endpoint_;
  // Only what is needed after construction: every idle connection pays
  // for each byte here.
  const int64_t ping_interval_ms_;
  const int64_t pong_timeout_ms_;
  int64_t ping_sent_ms_ = 0;   // 0 = no ping outstanding
  int64_t last_ping_ms_;
  bool close_sent_ = false;
  bool closed_ = false;        // no more input is processed
};

}  // namespace herald::ws
