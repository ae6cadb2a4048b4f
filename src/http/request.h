// HTTP/1.1 request as parsed from a connection's input buffer.
// A Request is a view: its string_views point into the buffer handed to
// RequestParser::parse (or into the parser's chunked-body storage) and stay
// valid only until that buffer or the parser changes. Not thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace herald::http {

struct Header {
  std::string_view name;
  std::string_view value;
};

struct Request {
  static constexpr size_t kMaxHeaders = 64;

  std::string_view method;  // "GET", "POST", ...
  std::string_view target;  // as sent: "/api/publish?x=1"
  std::string_view path;    // target up to '?'
  std::string_view query;   // after '?', without it; empty if none
  int version_minor = 1;    // HTTP/1.<minor>; only 1.0 and 1.1 are accepted
  Header headers[kMaxHeaders];
  size_t num_headers = 0;
  std::string_view body;    // Content-Length or de-chunked body; empty if none
  bool keep_alive = true;   // from version and the Connection header

  // First value of a header, compared case-insensitively; empty if absent.
  std::string_view header(std::string_view name) const;
  // True when a comma-separated header (Connection, Upgrade) contains `token`
  // case-insensitively, e.g. headerHasToken("connection", "upgrade").
  bool headerHasToken(std::string_view name, std::string_view token) const;
  // Value of a query parameter, not percent-decoded; empty if absent.
  std::string_view queryParam(std::string_view name) const;
  // Every value of a repeated query parameter, in order, not percent-decoded.
  std::vector<std::string_view> queryParams(std::string_view name) const;
};

// Decodes a query-string value (%XX escapes, '+' as space) into *out.
// False on a malformed escape.
bool percentDecode(std::string_view in, std::string* out);

// The part after "Bearer " of an Authorization header (scheme matched
// case-insensitively); empty if the header holds no bearer token.
std::string_view bearerToken(const Request& request);

}  // namespace herald::http
