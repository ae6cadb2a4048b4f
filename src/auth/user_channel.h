// User-limited channels: a channel whose name holds '#' belongs to the users
// listed after its last '#', comma-separated ("dm:#42,43", "chat:room#7"):
// only they may subscribe, publish or read it from a client, whatever the
// namespace rules say (the server API is not limited). Pure functions,
// thread-safe, no allocation.
#pragma once

#include <string_view>

namespace herald::auth {

// True when the channel name holds a user list.
inline bool isUserLimited(std::string_view channel) {
  return channel.find('#') != std::string_view::npos;
}

// True when `channel` is not user-limited, or `user` is one of its listed
// users. Empty list items name nobody, so an anonymous user ("") is never
// listed.
bool userMayUse(std::string_view channel, std::string_view user);

}  // namespace herald::auth
