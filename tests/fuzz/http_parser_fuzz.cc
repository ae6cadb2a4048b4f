// libFuzzer target for the HTTP/1.1 request parser and response writer.
//
// Input: byte 0 picks the limits (bit 0: small limits, so limit paths are
// reached) and the feeding mode (bit 1: byte by byte); byte 1 picks a split
// point and a segment size; the rest is the raw connection bytes.
// Checks, each aborting on failure:
//   - whole, split in two, and fed in segments (growing prefixes, each in a
//     freshly allocated buffer as a growing connection buffer would move)
//     all give the same status, consumed, error and request;
//   - pipelined requests parse in a loop, each consuming 0 < n <= remaining,
//     and each body stays readable after reset().
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/request.h"
#include "http/request_parser.h"
#include "http/response.h"

namespace {

using herald::http::ParseResult;
using herald::http::ParserLimits;
using herald::http::ParseStatus;
using herald::http::Request;
using herald::http::RequestParser;

// Owned copy of a result, so results from different buffers can be compared.
struct Snapshot {
  ParseStatus status = ParseStatus::kIncomplete;
  size_t consumed = 0;
  int http_status = 0;
  std::string reason;
  std::string method, target, path, query, body;
  int version_minor = 0;
  bool keep_alive = false;
  std::vector<std::pair<std::string, std::string>> headers;

  bool operator==(const Snapshot&) const = default;
};

[[noreturn]] void fail(const char* what, const Snapshot& a, const Snapshot& b) {
  std::fprintf(stderr, "%s: status %d/%d consumed %zu/%zu http %d/%d reason '%s'/'%s'\n", what,
               static_cast<int>(a.status), static_cast<int>(b.status), a.consumed, b.consumed,
               a.http_status, b.http_status, a.reason.c_str(), b.reason.c_str());
  std::abort();
}

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "check failed: %s\n", what);
    std::abort();
  }
}

Snapshot snapshot(const ParseResult& r, const Request& req) {
  Snapshot s;
  s.status = r.status;
  s.consumed = r.consumed;
  s.http_status = r.http_status;
  s.reason = r.reason;
  if (r.status != ParseStatus::kComplete) return s;
  s.method = req.method;
  s.target = req.target;
  s.path = req.path;
  s.query = req.query;
  s.body = req.body;
  s.version_minor = req.version_minor;
  s.keep_alive = req.keep_alive;
  for (size_t i = 0; i < req.num_headers; ++i) {
    s.headers.emplace_back(req.headers[i].name, req.headers[i].value);
  }
  return s;
}

// Parses a prefix from its own heap copy, freed right after: a Request view
// kept from an earlier buffer would then be a use-after-free ASan reports.
ParseResult parseCopy(RequestParser& parser, std::string_view input, size_t n, Request* req,
                      std::unique_ptr<char[]>* keep) {
  keep->reset(new char[n + 1]);
  std::copy(input.begin(), input.begin() + static_cast<ptrdiff_t>(n), keep->get());
  return parser.parse(std::string_view(keep->get(), n), req);
}

// Feeds growing prefixes ending at each cut (ascending), then the whole input.
Snapshot parseSegmented(std::string_view input, const ParserLimits& limits,
                        const std::vector<size_t>& cuts) {
  RequestParser parser(limits);
  Request req;
  std::unique_ptr<char[]> buf;
  for (size_t n : cuts) {
    ParseResult r = parseCopy(parser, input, n, &req, &buf);
    if (r.status != ParseStatus::kIncomplete) return snapshot(r, req);
  }
  ParseResult r = parseCopy(parser, input, input.size(), &req, &buf);
  return snapshot(r, req);
}

void checkRequestInvariants(const ParseResult& r, const Request& req, std::string_view data) {
  if (r.status == ParseStatus::kError) {
    check(r.http_status >= 400 && r.http_status < 600, "error status is 4xx/5xx");
    check(r.reason != nullptr && r.reason[0] != '\0', "error has a reason");
    return;
  }
  if (r.status != ParseStatus::kComplete) return;
  check(r.consumed > 0 && r.consumed <= data.size(), "0 < consumed <= size");
  check(req.num_headers <= Request::kMaxHeaders, "header count within bounds");
  check(req.version_minor == 0 || req.version_minor == 1, "version 1.0 or 1.1");
  check(!req.method.empty() && !req.target.empty(), "method and target set");
  check(req.target.substr(0, req.path.size()) == req.path, "path is a prefix of target");
  check(req.path.size() + (req.query.empty() ? 0 : req.query.size() + 1) <= req.target.size(),
        "path and query fit in target");
  // Exercise the lookups on whatever was parsed.
  (void)req.header("host");
  (void)req.headerHasToken("connection", "upgrade");
  if (req.num_headers > 0) {
    check(req.header(req.headers[0].name) == req.headers[0].value, "header() finds first");
  }
  (void)req.queryParam("token");
}

void fuzzResponse(std::string_view message) {
  std::string out;
  herald::http::appendJsonError(&out, 400, 107, message, message.size() % 2 == 0);
  size_t body_at = out.find("\r\n\r\n");
  check(body_at != std::string::npos, "response has a header end");
  std::string_view body = std::string_view(out).substr(body_at + 4);
  check(out.find("Content-Length: " + std::to_string(body.size()) + "\r\n") != std::string::npos,
        "Content-Length matches body");
  for (unsigned char c : body) check(c >= 0x20, "no raw control characters in JSON");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t mode = data[0];
  const uint8_t split = data[1];
  std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);

  ParserLimits limits;
  if (mode & 1) {
    limits.max_request_line = 48;
    limits.max_header_bytes = 160;
    limits.max_body_bytes = 64;
  }

  const Snapshot whole = parseSegmented(input, limits, {});

  // One split at a position taken from the data.
  const size_t cut = input.empty() ? 0 : split % (input.size() + 1);
  Snapshot two = parseSegmented(input, limits, {cut});
  if (!(two == whole)) fail("split in two differs from whole", two, whole);

  // Segments of 1..16 bytes (every position when 1), or byte by byte when
  // asked and the input is small enough to keep the run fast.
  size_t step = (mode & 2) && input.size() <= 2048 ? 1 : 1 + (split >> 4);
  std::vector<size_t> cuts;
  for (size_t n = step; n < input.size(); n += step) cuts.push_back(n);
  Snapshot segmented = parseSegmented(input, limits, cuts);
  if (!(segmented == whole)) fail("segmented differs from whole", segmented, whole);

  // Pipelining: parse, consume, reset, repeat.
  RequestParser parser(limits);
  Request req;
  std::string_view rest = input;
  for (int i = 0; i < 64 && !rest.empty(); ++i) {
    ParseResult r = parser.parse(rest, &req);
    checkRequestInvariants(r, req, rest);
    if (r.status != ParseStatus::kComplete) break;
    rest.remove_prefix(r.consumed);
    parser.reset();
    // Callers reset before handling the request: its body must still be readable.
    size_t sum = 0;
    for (char c : req.body) sum += static_cast<unsigned char>(c);
    check(sum <= 255 * req.body.size(), "body readable after reset");
  }

  fuzzResponse(input.substr(0, 256));
  return 0;
}
