// fetchUrl: one blocking HTTP(S) GET, for the few documents Herald itself
// downloads (the JWKS of [auth] jwks_url). Not for the data path: it runs its
// own short-lived io_context on the caller's thread. https verifies the
// server's certificate against the system CA store and its host name.
// Thread-safe (no shared state). Never throws.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace herald::http {

struct FetchResult {
  bool ok = false;    // a 200 response with its whole body
  std::string body;
  std::string error;  // why not, for the log: "connect: Connection refused", "HTTP 404"
};

// GETs `url` (http:// or https://, host[:port], path) within `timeout_s`
// seconds; a body over `max_bytes` is an error.
FetchResult fetchUrl(std::string_view url, double timeout_s, size_t max_bytes);

}  // namespace herald::http
