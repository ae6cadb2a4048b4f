// What differs between the servers herald-bench drives: the upgrade path, the
// greeting after the upgrade, how to subscribe and publish, and what a
// delivered event looks like. Every scenario uses the same bench payload,
//
//   {"b":"<event>:<stream>:<seq>:<send-ns>","p":"xxxx..."}
//
// padded to the requested size; the "b" marker survives any server's JSON
// re-encoding (a string, so JavaScript does not round the nanoseconds).
// Stateless functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace herald::bench {

// kHeraldSse: Herald's Server-Sent Events stream; receive only (publishers
// use the HTTP API).
enum class Proto : uint8_t { kHerald, kSocketIo, kCentrifugo, kPlainWs, kHeraldSse };

bool parseProto(std::string_view name, Proto* out);
const char* protoName(Proto proto);
// The WebSocket path a URL without one gets ("/connection/websocket", ...).
const char* defaultWsPath(Proto proto);
// Whether the server has an HTTP publish API (POST /api/publish).
bool hasHttpPublish(Proto proto);

// The marker of one delivered event.
struct Marker {
  uint64_t event = 0;   // global event number (fanout) or message number (chat)
  uint64_t stream = 0;  // publisher connection (fanout) or sender in the room (chat)
  uint64_t seq = 0;     // 1, 2, 3... per (channel, stream)
  uint64_t sent_ns = 0; // CLOCK_MONOTONIC at send
};

// Finds the next marker in `text` at or after `*pos`; advances `*pos` past it.
bool nextMarker(std::string_view text, size_t* pos, Marker* out);

// Appends the bench payload (a JSON object) of `size` bytes, or the smallest
// that holds the marker when `size` is smaller.
void appendPayload(std::string* out, size_t size, const Marker& m);

// The upgrade path for a client of `channel` (may be empty; for herald-sse a
// comma-separated list) with `token`.
std::string upgradePath(Proto proto, const std::string& base_path, const std::string& channel,
                        const std::string& token);

// Herald and Centrifugo commands.
std::string connectCommand(uint64_t id, const std::string& token);
std::string subscribeCommand(uint64_t id, const std::string& channel);
// Appends the publish message for `proto` carrying `payload` (a JSON object).
void appendWsPublish(std::string* out, Proto proto, uint64_t id, const std::string& channel,
                     std::string_view payload);
// The JSON body of POST /api/publish.
void appendHttpPublishBody(std::string* out, Proto proto, const std::string& channel,
                           std::string_view payload);

}  // namespace herald::bench
