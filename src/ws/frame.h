// WebSocket framing constants and the server-side frame header encoder
// (RFC 6455 section 5.2). Server frames are never masked. Stateless.
#pragma once

#include <cstddef>
#include <cstdint>

namespace herald::ws {

enum class Opcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

// Close codes used by the transport itself (RFC 6455 section 7.4.1).
enum CloseCode : uint16_t {
  kCloseNormal = 1000,
  kCloseGoingAway = 1001,
  kCloseProtocolError = 1002,
  kCloseUnsupportedData = 1003,
  kCloseNoStatus = 1005,      // never sent on the wire
  kCloseInvalidPayload = 1007,
  kClosePolicyViolation = 1008,
  kCloseMessageTooBig = 1009,
  kCloseInternalError = 1011,
};

constexpr size_t kMaxFrameHeader = 10;  // 2 + 8 bytes of extended length

// Writes a server frame header for a payload of `payload_len` bytes into
// `out` (at least kMaxFrameHeader bytes) and returns its length (2, 4 or 10).
size_t encodeFrameHeader(uint8_t* out, Opcode opcode, uint64_t payload_len,
                         bool fin = true, bool rsv1 = false);

// True for a close code a peer may send in a Close frame (1000-1003,
// 1007-1014 (1012-1014 are registered with IANA), 3000-4999).
bool isValidCloseCode(uint16_t code);

}  // namespace herald::ws
