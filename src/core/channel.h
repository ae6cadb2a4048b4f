// Channel names: what is a valid one. Shared by the protocol and the API.
#pragma once

#include <string_view>

namespace herald::core {

// 1..255 bytes of printable ASCII other than space, '"' and '\'. ',' only
// after a '#', where it separates the users of a user-limited channel
// (auth/user_channel.h); elsewhere it separates channels in SSE query strings.
inline bool validChannelName(std::string_view channel) {
  if (channel.empty() || channel.size() > 255) return false;
  bool user_list = false;
  for (unsigned char c : channel) {
    if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\') return false;
    if (c == '#') user_list = true;
    if (c == ',' && !user_list) return false;
  }
  return true;
}

}  // namespace herald::core
