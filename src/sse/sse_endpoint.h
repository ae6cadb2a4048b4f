// SseEndpoint: the native protocol, server to client only, as a
// Server-Sent Events stream (GET /connection/sse). It is the core::Transport
// of one Session, which it drives with the commands the request implies:
// connect with the request's token, then one subscribe per channel (with
// `since` from the Last-Event-ID cursor when the browser resumes). It turns
// the session's replies into SSE events and puts a resume cursor in front of
// every event's shared bytes, so a reconnecting EventSource continues every
// channel with no gap and no duplicate. Worker thread only.
//
// The stream (docs/sse.md has the full contract):
//   event: connect      data: {"client":..,"user":..,"ttl":..}
//   event: subscribe    data: {"channel":..,"offset":..,"epoch":..[,"recovered":B]}
//   (message)           data: {"channel":..,"eventType":..,...,"offset":N}
//   event: join|leave   data: {"channel":..,"client":..,"user":..}
//   event: subscribe_error  data: {"channel":..,"code":..,"message":..}
//   event: unsubscribe  data: {"channel":..}
//   event: disconnect   data: {"code":..,"reason":..,"reconnect":B}
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "broker/publication.h"
#include "core/session.h"
#include "core/transport.h"
#include "net/connection.h"
#include "sse/stream_format.h"

namespace herald::core {
class Hub;
}

namespace herald::sse {

// What the HTTP request asked for, already validated by the router.
struct StreamRequest {
  std::string token;                  // empty = anonymous
  std::vector<std::string> channels;  // valid, distinct channel names
  std::string last_event_id;          // a cursor to resume from; empty = none
  std::string extra_headers;          // complete header lines (CORS) for the response
};

struct StreamOptions {
  int64_t heartbeat_ms = 15000;
  int64_t retry_ms = 3000;
};

class SseEndpoint final : public net::ConnectionHandler, public core::Transport {
 public:
  // `opened_ms`: when the request started (the session's handshake clock).
  SseEndpoint(core::Hub& hub, net::Connection& conn, int64_t opened_ms, const StreamOptions& options,
              StreamRequest request);
  ~SseEndpoint() override;

  // Connects the session; on success starts the response and subscribes.
  // Call once, after the endpoint has become the connection's handler.
  void start();

  // net::ConnectionHandler
  void onData(char* data, size_t len) override;
  void onTick(int64_t now_ms) override;
  void onShutdown() override;

  // core::Transport
  core::WireFormat format() const override { return core::WireFormat::kSse; }
  core::SendStatus sendPrepared(const net::Bytes& frame, const broker::Publication& pub) override;
  core::SendStatus sendJson(std::string_view json) override;
  void close(uint16_t code, std::string_view reason, std::string_view final_json) override;
  uint64_t connectionId() const override { return conn_.id(); }
  const std::string& remoteIp() const override { return conn_.remoteIp(); }
  // An EventSource never sends after its request: the stream is alive as
  // long as writes (heartbeats included) go through, so it is never idle.
  int64_t lastInputMs() const override;

  // The hub's encoder for kSse: one event's bytes, shared by every SSE
  // subscriber of the worker (the cursor goes in front, per connection).
  static net::Bytes encodePush(std::string_view json, const broker::Publication& pub);

 private:
  // The session's successful replies to connect and to subscribe #index.
  void onConnected(simdjson::dom::object result);
  void onSubscribed(size_t index, simdjson::dom::object result);
  // Queues `text` (complete SSE lines) for sending.
  core::SendStatus send(const std::string& text);
  // Appends "id: <cursor>\n".
  void appendId(std::string* out) const;

  core::Hub& hub_;
  net::Connection& conn_;
  const StreamOptions& options_;
  StreamRequest request_;
  Cursor cursor_;          // where the client stands, sent as every event's id
  Cursor resume_from_;     // the Last-Event-ID cursor, until subscribed
  bool resuming_ = false;  // the request carried a cursor this server wrote
  bool streaming_ = false; // the 200 response has started
  int64_t next_heartbeat_ms_;
  uint16_t connect_error_ = 0;  // the connect reply's error code, if any
  std::string connect_error_message_;
  core::Session session_;  // last: it calls back into the members above
};

}  // namespace herald::sse
