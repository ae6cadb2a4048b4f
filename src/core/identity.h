// Identity: what a connection keeps of its connection token: the user, the
// presence info and the channel patterns of the "channels" and "publish"
// claims. One immutable heap block per authenticated connection, made at
// connect and owned by the Session; anonymous connections without claims have
// none, so they pay one null pointer. Read on the session's thread only.
#pragma once

#include <string>
#include <vector>

namespace herald::core {

struct Identity {
  std::string user;                   // "sub"; may be empty (anonymous with claims)
  std::string info_json;              // "info", minified JSON; empty if absent
  std::vector<std::string> channels;  // globs the user may subscribe to ("claims")
  std::vector<std::string> publish;   // globs the user may publish to ("claims")
};

}  // namespace herald::core
