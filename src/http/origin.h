// Origin checks for browser-facing endpoints (the WebSocket upgrade, SSE):
// the request's Origin header against [server] allowed_origins, glob
// patterns where '*' matches any run of characters ("https://*.example.com").
// Stateless and thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "config/config.h"
#include "http/request.h"

namespace herald::http {

// True if `origin` matches `pattern`: the claims glob (auth/glob.h: '*' any
// run of characters, dots included; '?' one), ASCII case ignored (scheme and
// host are case-insensitive).
bool originMatches(std::string_view pattern, std::string_view origin);

// Whether the request may proceed: with no allowed_origins every origin is
// allowed; a request without Origin (not from a browser) is allowed unless
// allow_missing_origin is false.
bool originAllowed(const Request& request, const config::Server& server);

// The complete 403 response for a refused origin (JSON error 103).
std::string originRefusedResponse();

}  // namespace herald::http
