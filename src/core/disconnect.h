// Disconnect codes of the native protocol (DESIGN.md): the code, the reason
// sent with it, and whether a client should reconnect.
#pragma once

#include <cstdint>
#include <string_view>

namespace herald::core {

enum Disconnect : uint16_t {
  kDisconnectNormal = 3000,
  kDisconnectShutdown = 3001,
  kDisconnectBadRequest = 3002,
  kDisconnectInvalidToken = 3003,
  kDisconnectTokenExpired = 3004,
  kDisconnectStale = 3005,
  kDisconnectSlowConsumer = 3006,
  kDisconnectTooManyRequests = 3007,
  kDisconnectConnectionLimit = 3008,
  kDisconnectByApi = 3009,
  kDisconnectInsufficientState = 3010,
  kDisconnectMessageTooLarge = 3011,
};

struct DisconnectInfo {
  std::string_view reason;
  bool reconnect;
};

constexpr DisconnectInfo disconnectInfo(uint16_t code) {
  switch (code) {
    case kDisconnectNormal: return {"normal", false};
    case kDisconnectShutdown: return {"server shutdown", true};
    case kDisconnectBadRequest: return {"bad request", false};
    case kDisconnectInvalidToken: return {"invalid token", false};
    case kDisconnectTokenExpired: return {"token expired", true};
    case kDisconnectStale: return {"stale", true};
    case kDisconnectSlowConsumer: return {"slow consumer", true};
    case kDisconnectTooManyRequests: return {"too many requests", true};
    case kDisconnectConnectionLimit: return {"connection limit", true};
    case kDisconnectByApi: return {"disconnected", false};
    case kDisconnectInsufficientState: return {"insufficient state", true};
    case kDisconnectMessageTooLarge: return {"message too large", false};
    default: return {"disconnected", false};
  }
}

// Protocol error codes carried in {"error":{"code":N,...}} replies.
enum ErrorCode : uint16_t {
  kErrorInternal = 100,
  kErrorUnauthorized = 101,
  kErrorUnknownChannel = 102,
  kErrorPermissionDenied = 103,
  kErrorUnknownMethod = 104,
  kErrorAlreadySubscribed = 105,
  kErrorLimitExceeded = 106,
  kErrorBadRequest = 107,
  kErrorNotAvailable = 108,
  kErrorTokenExpired = 109,
  kErrorTooManyRequests = 110,
  kErrorMessageTooLarge = 111,
  // An extension of DESIGN.md's list: `since` names another epoch or an
  // offset the channel has not reached (history).
  kErrorUnrecoverablePosition = 112,
};

}  // namespace herald::core
