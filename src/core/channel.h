// Channel names: what is a valid one. Shared by the protocol and the API.
#pragma once

#include <string_view>

namespace herald::core {

// 1..255 bytes of printable ASCII other than space, '"', '\' and ','
// (',' separates channels in SSE query strings).
inline bool validChannelName(std::string_view channel) {
  if (channel.empty() || channel.size() > 255) return false;
  for (unsigned char c : channel) {
    if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == ',') return false;
  }
  return true;
}

}  // namespace herald::core
