// A client command of the native protocol v1, decoded from one JSON object.
// Owns its strings (payload is the minified JSON text). Value type.
#pragma once

#include <cstdint>
#include <string>

namespace herald::protocol {

enum class Method : uint8_t {
  kConnect,
  kSubscribe,
  kUnsubscribe,
  kPublish,
  kPresence,
  kPresenceStats,
  kHistory,
  kRefresh,
};

struct StreamPosition {
  bool present = false;
  uint64_t offset = 0;
  std::string epoch;
};

struct Command {
  uint64_t id = 0;
  Method method = Method::kConnect;
  // Fields of the command object, by name in the protocol. Only the ones a
  // method uses are set; the parser checks their types.
  std::string token;            // connect, refresh; subscribe (subscription token)
  std::string channel;          // subscribe, unsubscribe, publish, presence, history
  std::string event_type;       // publish: "eventType"
  int64_t version = 1;          // publish: "version"
  std::string payload;          // publish: "payload", minified JSON text
  bool has_payload = false;
  std::string idempotency_key;  // publish: "idempotencyKey"
  StreamPosition since;         // subscribe, history
  int64_t limit = -1;           // history; -1 = not given
  bool reverse = false;         // history
};

}  // namespace herald::protocol
