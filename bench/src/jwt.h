// HS256 connection tokens for the `connect` scenario: one JWT per client,
// signed with the secret the server was started with. Thread-safe.
#pragma once

#include <cstdint>
#include <string>

namespace herald::bench {

// A token with claims {"sub": user, "iat", "exp": now + ttl_s} and, when
// `channel` is not empty, "channels": [channel] (Herald's subscribe claim).
std::string makeHs256Token(const std::string& secret, const std::string& user,
                           const std::string& channel, int64_t ttl_s);

}  // namespace herald::bench
