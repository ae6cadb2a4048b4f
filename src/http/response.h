// Building HTTP/1.1 responses. Each function appends one complete response
// (status line, headers, body) to `out`. Stateless and thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace herald::http {

// Standard reason phrase for a status code ("OK", "Bad Request", ...).
std::string_view reasonPhrase(int status);

// Appends a response with Content-Length. `extra_headers` is zero or more
// complete "Name: value\r\n" lines. With close = true adds "Connection: close".
void appendResponse(std::string* out, int status, std::string_view content_type,
                    std::string_view body, bool close = false,
                    std::string_view extra_headers = {});

// Appends a JSON error response: {"error":{"code":N,"message":"..."}}.
void appendJsonError(std::string* out, int status, int code, std::string_view message,
                     bool close = false);

}  // namespace herald::http
