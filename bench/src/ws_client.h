// The client side of one WebSocket connection (RFC 6455): TCP connect from a
// chosen loopback source address, the HTTP upgrade, masked client frames out,
// server frames in. In event-stream mode it is instead a Server-Sent Events
// client: a plain GET, then each event (the text up to a blank line) is a
// message; nothing can be sent. Each connection reads into a small buffer of its own
// (a burst that fills it continues in the thread's large receive buffer); a
// partial frame is kept in the connection until it completes.
// Writes go out at once with a non-blocking send and wait for writability
// only when the kernel buffer is full.
//
// Thread-safety: none; a WsClient lives on one io_context, run by one thread.
// Lifetime: its owner keeps it alive until that io_context has stopped
// (handlers may still be queued after close()). Listener callbacks may call
// send*() and close() but must not destroy the WsClient.
#pragma once

#include <asio.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace herald::bench {

class WsClient {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    // The upgrade succeeded (101 with the right Sec-WebSocket-Accept).
    virtual void onOpen(WsClient& ws) = 0;
    // A complete text or binary message.
    virtual void onMessage(WsClient& ws, std::string_view message) = 0;
    // The connection failed or closed; called once, after which the client is dead.
    virtual void onClosed(WsClient& ws, std::string_view why) = 0;
  };

  enum class State : uint8_t { kIdle, kConnecting, kUpgrading, kOpen, kClosed };

  WsClient(asio::io_context& io, Listener* listener);
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  // Connects to `remote` from `source` (port chosen by the kernel at connect
  // time) and sends the upgrade request (or, with `event_stream`, the SSE
  // request) for `path` with `host` as Host.
  void start(const asio::ip::tcp::endpoint& remote, const asio::ip::address& source,
             const std::string& host, const std::string& path, bool event_stream = false);

  // Appends one masked text frame; it is written at once unless `more` says
  // further frames follow (then call flush()).
  void sendText(std::string_view payload, bool more = false);
  void flush();
  // Closes the socket without a closing handshake (a benchmark has no use for one).
  void close();

  State state() const { return state_; }
  bool isOpen() const { return state_ == State::kOpen; }
  uint64_t bytesIn() const { return bytes_in_; }

 private:
  void fail(std::string_view why);
  void armRead();
  void releaseBuffers();
  void onReadable();
  bool ingest(char* data, size_t n);  // false once closed
  // Consumes what it can of data[0..n); returns the bytes consumed. May close.
  size_t consume(char* data, size_t n);
  size_t consumeUpgrade(char* data, size_t n);
  size_t consumeFrames(char* data, size_t n);
  size_t consumeEvents(char* data, size_t n);
  void handleFrame(uint8_t opcode, bool fin, char* payload, size_t len);
  void appendFrame(uint8_t opcode, std::string_view payload);
  void writeSome();

  asio::ip::tcp::socket socket_;
  Listener* listener_;
  State state_ = State::kIdle;
  bool waiting_write_ = false;
  std::unique_ptr<char[]> read_buffer_;  // what asio reads into; bursts overflow to the thread's buffer
  std::string in_;        // unconsumed input (a partial frame), usually empty
  std::string fragments_; // a fragmented message being assembled
  std::string out_;       // bytes not yet accepted by the kernel
  size_t out_off_ = 0;
  std::string key_;       // Sec-WebSocket-Key, until the upgrade completes
  uint64_t bytes_in_ = 0;
  bool event_stream_ = false;
};

}  // namespace herald::bench
