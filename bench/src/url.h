// A parsed ws:// or http:// URL on an IP literal or localhost (herald-bench
// only talks to servers on this machine). Plain value type.
#pragma once

#include <cstdint>
#include <string>

namespace herald::bench {

struct Url {
  std::string scheme;  // "ws" or "http"
  std::string host;    // as written ("127.0.0.1", "localhost")
  std::string ip;      // the address to connect to
  uint16_t port = 0;
  std::string path;    // "/..." including any query; "" when the URL had none

  std::string hostHeader() const { return host + ":" + std::to_string(port); }
};

// Parses `text`; on failure returns false and sets `error`.
bool parseUrl(const std::string& text, Url* out, std::string* error);

}  // namespace herald::bench
