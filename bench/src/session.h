// One benchmark client: a WsClient plus the protocol adapter that turns it
// into a connected, subscribed client of Herald, Centrifugo, Socket.IO or a
// plain WebSocket broadcaster, and reports delivered bench events.
//
// Thread-safety: none; lives on one io_context. Lifetime: like WsClient, kept
// alive until its io_context has stopped.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol.h"
#include "ws_client.h"

namespace herald::bench {

class Session : private WsClient::Listener {
 public:
  class Owner {
   public:
    virtual ~Owner() = default;
    // Connected, and subscribed to every channel it was given.
    virtual void onReady(Session& s) = 0;
    virtual void onEvent(Session& s, const Marker& m) = 0;
    // The connection failed (before ready) or dropped (after ready).
    virtual void onFailed(Session& s, std::string_view why) = 0;
    // A reply to publish(): `error` when the server refused it.
    virtual void onPublishReply(Session& s, bool error, std::string_view text) {}
  };

  enum class State : uint8_t { kIdle, kConnecting, kHandshake, kReady, kDead };

  Session(asio::io_context& io, Owner* owner, Proto proto);

  // Connects and subscribes to `channels` (the first one decides the room of
  // Socket.IO and plain WebSocket clients; they support only one).
  void start(const asio::ip::tcp::endpoint& remote, const asio::ip::address& source,
             const std::string& host, const std::string& base_path,
             std::vector<std::string> channels, const std::string& token);
  // Publishes `payload` (a JSON object) to `channel`; `more` defers the write
  // until flush().
  void publish(const std::string& channel, std::string_view payload, bool more = false);
  void flush() { ws_.flush(); }
  void close();

  State state() const { return state_; }
  Proto proto() const { return proto_; }

  // Owner's bookkeeping, kept here so a client is one allocation.
  uint32_t id = 0;          // index in the scenario's population
  uint32_t group = 0;       // channel or room index
  bool publisher = false;   // events it receives are not deliveries
  bool was_ready = false;   // became ready at some point
  uint64_t start_ns = 0;    // when start() was called
  uint64_t received = 0;    // events delivered in order or after a gap
  uint64_t out_of_order = 0;
  std::vector<uint32_t> next_seq;  // per stream: the next expected seq

 private:
  void onOpen(WsClient& ws) override;
  void onMessage(WsClient& ws, std::string_view message) override;
  void onClosed(WsClient& ws, std::string_view why) override;

  void handleJsonLine(std::string_view line);   // Herald and Centrifugo
  void handleSocketIo(std::string_view packet);
  void handleSseEvent(std::string_view event);
  void becomeReady();
  void fail(std::string_view why);

  WsClient ws_;
  Owner* owner_;
  const Proto proto_;
  State state_ = State::kIdle;
  uint32_t pending_replies_ = 0;  // handshake replies still expected
  uint64_t next_id_ = 1;
  uint64_t handshake_ids_ = 0;    // ids <= this belong to the handshake
  std::vector<std::string> channels_;
  std::string token_;
  std::string scratch_;
};

}  // namespace herald::bench
