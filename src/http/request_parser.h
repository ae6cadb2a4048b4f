// Incremental HTTP/1.1 request parser for the server side.
// Call parse() with everything received so far for the current request; it
// answers kIncomplete until the whole request (headers and body) is there, so
// a request arriving one byte at a time parses exactly as one arriving whole.
// Limits are checked as bytes arrive, so an oversized request is refused before
// it is complete. One parser per connection; not thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "http/request.h"

namespace herald::http {

struct ParserLimits {
  size_t max_request_line = 8 * 1024;   // longer -> 414 (Request-URI Too Long)
  size_t max_header_bytes = 16 * 1024;  // all header lines together -> 431
  size_t max_body_bytes = 1024 * 1024;  // Content-Length or chunked total -> 413
};

enum class ParseStatus { kComplete, kIncomplete, kError };

struct ParseResult {
  ParseStatus status = ParseStatus::kIncomplete;
  size_t consumed = 0;       // kComplete: bytes of `data` this request used
  int http_status = 0;       // kError: 400, 413, 414, 431, 501 or 505
  const char* reason = "";   // kError: a short static explanation for the body
};

class RequestParser {
 public:
  explicit RequestParser(const ParserLimits& limits) : limits_(limits) {}

  // Parses the request at the start of `data`. On kComplete, *out describes
  // it and `consumed` bytes belong to it (the rest is the next pipelined
  // request). The parser may remember progress between calls made with a
  // growing prefix of the same request; call reset() before the next one.
  // Accepts Content-Length and Transfer-Encoding: chunked bodies (chunk
  // extensions and trailers are skipped); refuses both together (400), other
  // transfer codings (501), bad versions (505) and malformed syntax (400).
  ParseResult parse(std::string_view data, Request* out);

  void reset();

 private:
  ParserLimits limits_;
  std::string chunked_body_;  // de-chunked body storage; empty when unused
  size_t scanned_ = 0;        // bytes already known not to end the header block
};

}  // namespace herald::http
