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
#include <utility>

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

  // Prepares for the next request. The Request from the last kComplete,
  // de-chunked body included, stays valid until the next parse() call.
  void reset();

  // True once per request, when its headers asked for "100 Continue" and
  // its body has not arrived yet: the caller should send the interim reply.
  bool takeContinue() { return std::exchange(continue_pending_, false); }

 private:
  // Where parsing stands. All positions are offsets into `data`, never
  // pointers: the caller's buffer may move between calls as it grows.
  enum class Stage {
    kRequestLine,   // waiting for the end of the request line
    kHeaders,       // waiting for the blank line that ends the header block
    kBody,          // Content-Length body (possibly empty)
    kChunkSize,     // waiting for a chunk-size line
    kChunkData,     // copying chunk data into chunked_body_
    kChunkDataEnd,  // waiting for the CRLF after chunk data
    kTrailers,      // skipping trailer lines until the final blank line
  };

  ParseResult scanHead(std::string_view data);
  ParseResult parseHead(std::string_view head, Request* out, bool first_time);
  ParseResult parseChunked(std::string_view data);

  ParserLimits limits_;
  std::string chunked_body_;  // de-chunked body storage; empty when unused
  size_t scanned_ = 0;        // bytes already known not to hold the line end we wait for
  Stage stage_ = Stage::kRequestLine;
  size_t pos_ = 0;             // start of the line (or chunk data) being parsed
  size_t headers_start_ = 0;   // first byte after the request line
  size_t body_start_ = 0;      // first byte after the header block
  size_t body_length_ = 0;     // Content-Length
  size_t chunk_left_ = 0;      // bytes of the current chunk not yet copied
  size_t trailers_start_ = 0;  // first byte after the last-chunk line
  bool continue_pending_ = false;
};

}  // namespace herald::http
