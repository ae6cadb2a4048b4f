#include "ws/frame.h"

namespace herald::ws {

size_t encodeFrameHeader(uint8_t* out, Opcode opcode, uint64_t payload_len, bool fin,
                         bool rsv1) {
  out[0] = static_cast<uint8_t>((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) |
                                static_cast<uint8_t>(opcode));
  if (payload_len < 126) {
    out[1] = static_cast<uint8_t>(payload_len);
    return 2;
  }
  if (payload_len <= 0xFFFF) {
    out[1] = 126;
    out[2] = static_cast<uint8_t>(payload_len >> 8);
    out[3] = static_cast<uint8_t>(payload_len);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; ++i) {
    out[2 + i] = static_cast<uint8_t>(payload_len >> (56 - 8 * i));
  }
  return 10;
}

bool isValidCloseCode(uint16_t code) {
  // 1004-1006 and 1015 are reserved and never sent on the wire; 1012-1014
  // (Service Restart, Try Again Later, Bad Gateway) are registered with IANA
  // and accepted, as the current Autobahn|Testsuite expects (its case 7.9.*
  // no longer lists them as invalid). Anything else below 3000 is
  // unassigned, 3000-3999 is for libraries and 4000-4999 private use.
  if (code >= 1000 && code <= 1003) return true;
  if (code >= 1007 && code <= 1014) return true;
  return code >= 3000 && code <= 4999;
}

}  // namespace herald::ws
