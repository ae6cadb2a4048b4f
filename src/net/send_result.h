// What became of bytes handed to a connection for sending. Shared by the
// network layer and the core's Transport, so that a result passes up as is.
#pragma once

#include <cstdint>

namespace herald::net {

enum class SendResult : uint8_t {
  kOk,           // queued
  kOverflow,     // refused: the out-queue would exceed its byte limit
  kClosed,       // refused: the connection is closing or closed
};

}  // namespace herald::net
