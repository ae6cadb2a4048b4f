// Unit tests for the HTTP/1.1 request parser, Request lookups and the
// response writer. Every request goes through parseChecked(), which also
// feeds it one byte at a time (each prefix in a freshly allocated buffer, as
// a growing connection buffer would move) and requires the same answer.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "http/request.h"
#include "http/request_parser.h"
#include "http/response.h"

namespace herald::http {
namespace {

// Owned copy of a ParseResult and Request, comparable across buffers.
struct Parsed {
  ParseStatus status = ParseStatus::kIncomplete;
  size_t consumed = 0;
  int http_status = 0;
  std::string reason;
  std::string method, target, path, query, body;
  int version_minor = 0;
  bool keep_alive = false;
  std::vector<std::pair<std::string, std::string>> headers;

  bool operator==(const Parsed&) const = default;
};

Parsed snapshot(const ParseResult& r, const Request& req) {
  Parsed p;
  p.status = r.status;
  p.consumed = r.consumed;
  p.http_status = r.http_status;
  p.reason = r.reason;
  if (r.status != ParseStatus::kComplete) return p;
  p.method = req.method;
  p.target = req.target;
  p.path = req.path;
  p.query = req.query;
  p.body = req.body;
  p.version_minor = req.version_minor;
  p.keep_alive = req.keep_alive;
  for (size_t i = 0; i < req.num_headers; ++i) {
    p.headers.emplace_back(req.headers[i].name, req.headers[i].value);
  }
  return p;
}

Parsed parseWhole(const std::string& input, const ParserLimits& limits) {
  RequestParser parser(limits);
  Request req;
  return snapshot(parser.parse(input, &req), req);
}

Parsed parseByteByByte(const std::string& input, const ParserLimits& limits) {
  RequestParser parser(limits);
  Request req;
  for (size_t n = 1; n <= input.size(); ++n) {
    std::string prefix = input.substr(0, n);
    ParseResult r = parser.parse(prefix, &req);
    if (r.status != ParseStatus::kIncomplete) return snapshot(r, req);
  }
  return Parsed{};
}

Parsed parseChecked(const std::string& input, const ParserLimits& limits = {}) {
  Parsed whole = parseWhole(input, limits);
  EXPECT_EQ(whole, parseByteByByte(input, limits)) << "byte-by-byte differs for: " << input;
  return whole;
}

void expectError(const std::string& input, int http_status, const ParserLimits& limits = {}) {
  Parsed p = parseChecked(input, limits);
  EXPECT_EQ(p.status, ParseStatus::kError) << input;
  EXPECT_EQ(p.http_status, http_status) << input << " reason: " << p.reason;
  EXPECT_FALSE(p.reason.empty());
}

Parsed expectComplete(const std::string& input, const ParserLimits& limits = {}) {
  Parsed p = parseChecked(input, limits);
  EXPECT_EQ(p.status, ParseStatus::kComplete) << input << " -> " << p.http_status << " "
                                              << p.reason;
  return p;
}

// Small limits so "exactly at" and "one over" are easy to build.
ParserLimits smallLimits() {
  ParserLimits l;
  l.max_request_line = 32;
  l.max_header_bytes = 64;
  l.max_body_bytes = 16;
  return l;
}

TEST(HttpParser, SimpleGet) {
  std::string in = "GET /health HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";
  Parsed p = expectComplete(in);
  EXPECT_EQ(p.consumed, in.size());
  EXPECT_EQ(p.method, "GET");
  EXPECT_EQ(p.target, "/health");
  EXPECT_EQ(p.path, "/health");
  EXPECT_EQ(p.query, "");
  EXPECT_EQ(p.version_minor, 1);
  EXPECT_TRUE(p.keep_alive);
  EXPECT_EQ(p.body, "");
  ASSERT_EQ(p.headers.size(), 2u);
  EXPECT_EQ(p.headers[0], std::make_pair(std::string("Host"), std::string("example.com")));
  EXPECT_EQ(p.headers[1], std::make_pair(std::string("Accept"), std::string("*/*")));
}

TEST(HttpParser, IncompleteUntilBlankLine) {
  RequestParser parser({});
  Request req;
  EXPECT_EQ(parser.parse("GET / HTTP/1.1\r\nHost: x\r\n", &req).status, ParseStatus::kIncomplete);
  EXPECT_EQ(parser.parse("GET / HTTP/1.1\r\nHost: x\r\n\r", &req).status,
            ParseStatus::kIncomplete);
  EXPECT_EQ(parser.parse("GET / HTTP/1.1\r\nHost: x\r\n\r\n", &req).status,
            ParseStatus::kComplete);
}

TEST(HttpParser, ExpectContinueIsReportedOnceWhileTheBodyIsPending) {
  RequestParser parser({});
  Request req;
  std::string head = "POST /api/publish HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                     "Content-Length: 2\r\n\r\n";
  EXPECT_EQ(parser.parse(head, &req).status, ParseStatus::kIncomplete);
  EXPECT_TRUE(parser.takeContinue());
  EXPECT_FALSE(parser.takeContinue());
  std::string whole = head + "{}";  // the request views into its input
  EXPECT_EQ(parser.parse(whole, &req).status, ParseStatus::kComplete);
  EXPECT_EQ(req.body, "{}");
}

TEST(HttpParser, ExpectContinueIsIgnoredWithoutABody) {
  RequestParser parser({});
  Request req;
  EXPECT_EQ(parser.parse("GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n", &req).status,
            ParseStatus::kComplete);
  EXPECT_FALSE(parser.takeContinue());
}

TEST(HttpParser, HeaderLookupIsCaseInsensitive) {
  std::string in = "GET / HTTP/1.1\r\nHOST: a\r\ncontent-TYPE: text/plain\r\n\r\n";
  RequestParser parser({});
  Request req;
  ASSERT_EQ(parser.parse(in, &req).status, ParseStatus::kComplete);
  EXPECT_EQ(req.header("host"), "a");
  EXPECT_EQ(req.header("Host"), "a");
  EXPECT_EQ(req.header("Content-Type"), "text/plain");
  EXPECT_EQ(req.header("missing"), "");
  parseChecked(in);
}

TEST(HttpParser, FirstHeaderValueWins) {
  std::string in = "GET / HTTP/1.1\r\nX-A: 1\r\nx-a: 2\r\n\r\n";
  RequestParser parser({});
  Request req;
  ASSERT_EQ(parser.parse(in, &req).status, ParseStatus::kComplete);
  EXPECT_EQ(req.header("X-A"), "1");
  parseChecked(in);
}

TEST(HttpParser, ValueOwsIsTrimmed) {
  Parsed p = expectComplete("GET / HTTP/1.1\r\nX:  \t a b \t \r\nY:\r\nZ:z\r\n\r\n");
  ASSERT_EQ(p.headers.size(), 3u);
  EXPECT_EQ(p.headers[0].second, "a b");
  EXPECT_EQ(p.headers[1].second, "");
  EXPECT_EQ(p.headers[2].second, "z");
}

TEST(HttpParser, PostWithContentLength) {
  std::string in = "POST /api/publish HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world";
  Parsed p = expectComplete(in);
  EXPECT_EQ(p.body, "hello world");
  EXPECT_EQ(p.consumed, in.size());
  EXPECT_EQ(parseWhole(in.substr(0, in.size() - 1), {}).status, ParseStatus::kIncomplete);
}

TEST(HttpParser, PipelinedRequests) {
  std::string first = "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
  std::string second = "GET /b?x=1 HTTP/1.1\r\n\r\n";
  std::string in = first + second + "GET /c";  // a third, still arriving

  Parsed p1 = expectComplete(in);
  EXPECT_EQ(p1.consumed, first.size());
  EXPECT_EQ(p1.body, "abc");

  RequestParser parser({});
  Request req;
  std::string_view rest = in;
  ParseResult r = parser.parse(rest, &req);
  ASSERT_EQ(r.status, ParseStatus::kComplete);
  EXPECT_EQ(r.consumed, first.size());
  rest.remove_prefix(r.consumed);
  parser.reset();
  r = parser.parse(rest, &req);
  ASSERT_EQ(r.status, ParseStatus::kComplete);
  EXPECT_EQ(r.consumed, second.size());
  EXPECT_EQ(req.path, "/b");
  EXPECT_EQ(req.queryParam("x"), "1");
  rest.remove_prefix(r.consumed);
  parser.reset();
  EXPECT_EQ(parser.parse(rest, &req).status, ParseStatus::kIncomplete);
}

TEST(HttpParser, PipelinedChunkedThenGet) {
  std::string first = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
  Parsed p = expectComplete(first + "GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(p.consumed, first.size());
  EXPECT_EQ(p.body, "abc");
}

TEST(HttpParser, ParseAgainAfterCompleteGivesSameAnswer) {
  std::string in = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n";
  RequestParser parser({});
  Request req;
  ParseResult a = parser.parse(in, &req);
  ParseResult b = parser.parse(in, &req);
  ASSERT_EQ(a.status, ParseStatus::kComplete);
  EXPECT_EQ(b.status, ParseStatus::kComplete);
  EXPECT_EQ(a.consumed, b.consumed);
  EXPECT_EQ(req.body, "z");
}

TEST(HttpParser, ChunkedBodySurvivesResetUntilNextParse) {
  // The connection resets the parser before routing the request it got.
  RequestParser parser({});
  Request req;
  ASSERT_EQ(parser.parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "4\r\nbody\r\n0\r\n\r\n",
                         &req)
                .status,
            ParseStatus::kComplete);
  parser.reset();
  EXPECT_EQ(req.body, "body");
  Request next;
  ASSERT_EQ(parser.parse("GET / HTTP/1.1\r\n\r\n", &next).status, ParseStatus::kComplete);
  EXPECT_EQ(next.body, "");
}

TEST(HttpParser, ResetClearsState) {
  RequestParser parser({});
  Request req;
  EXPECT_EQ(parser.parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", &req).status,
            ParseStatus::kIncomplete);
  parser.reset();
  ASSERT_EQ(parser.parse("GET /x HTTP/1.0\r\n\r\n", &req).status, ParseStatus::kComplete);
  EXPECT_EQ(req.path, "/x");
  EXPECT_EQ(req.body, "");
}

TEST(HttpParser, ChunkedWithExtensionsAndTrailers) {
  std::string in =
      "POST /api/publish HTTP/1.1\r\n"
      "Transfer-Encoding: chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n"
      "1 ; ext\r\n \r\n"
      "A;a=\"q\";b\r\n0123456789\r\n"
      "0;last\r\n"
      "X-Trailer: yes\r\nX-Other: 1\r\n\r\n";
  Parsed p = expectComplete(in);
  EXPECT_EQ(p.body, "hello 0123456789");
  EXPECT_EQ(p.consumed, in.size());
}

TEST(HttpParser, ChunkedUppercaseHexAndEmptyBody) {
  Parsed p = expectComplete(
      "POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n1F\r\n" + std::string(31, 'x') +
      "\r\n0\r\n\r\n");
  EXPECT_EQ(p.body.size(), 31u);
  p = expectComplete("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  EXPECT_EQ(p.body, "");
}

TEST(HttpParser, ChunkedErrors) {
  const std::string head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  expectError(head + "g\r\n", 400);                         // not hex
  expectError(head + ";ext\r\n", 400);                      // no size
  expectError(head + "1x\r\n", 400);                        // junk after size
  expectError(head + "10000000000000000\r\n", 400);         // 17 hex digits overflow
  expectError(head + "3\r\nabcX\r\n", 400);                 // no CRLF after data
  expectError(head + "3\r\nabc\rX", 400);                   // CR without LF after data
  expectError(head + "3\nabc\r\n0\r\n\r\n", 400);           // bare LF in chunked framing
  expectError(head + "3;a\rb\r\nabc\r\n0\r\n\r\n", 400);    // bare CR in extension
  expectError(head + "0\r\nX: y\n\r\n", 400);               // bare LF in trailer
  expectError(head + std::string(2000, '0') + "1\r\n", 400);  // chunk line too long
}

TEST(HttpParser, ChunkedBodyLimit) {
  ParserLimits l = smallLimits();
  const std::string head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  Parsed p = expectComplete(head + "8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n", l);
  EXPECT_EQ(p.body.size(), 16u);
  expectError(head + "8\r\n12345678\r\n9\r\n", 413, l);  // refused before the data arrives
  expectError(head + "11\r\n", 413, l);
  expectError(head + "ffffffffffffffff\r\n", 413, l);  // fits size_t, over the limit
}

TEST(HttpParser, ChunkedTrailerLimit) {
  ParserLimits l = smallLimits();
  const std::string head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
  expectComplete(head + "T: " + std::string(57, 'v') + "\r\n\r\n", l);  // exactly 64 bytes
  expectError(head + "T: " + std::string(58, 'v') + "\r\n\r\n", 431, l);
  expectError(head + "T: " + std::string(100, 'v'), 431, l);  // before the line ends
}

TEST(HttpParser, ContentLengthRules) {
  ParserLimits l = smallLimits();
  expectComplete("POST / HTTP/1.1\r\nContent-Length: 16\r\n\r\n" + std::string(16, 'b'), l);
  // Over the limit is refused from the headers alone, before any body byte.
  expectError("POST / HTTP/1.1\r\nContent-Length: 17\r\n\r\n", 413, l);
  expectError("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413, l);
  expectError("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400);
  expectError("POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", 400);
  expectError("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", 400);
  expectError("POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400);
  expectError("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400);
  expectError("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400);
  expectError("POST / HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\nabcd", 400);
  Parsed p = expectComplete("POST / HTTP/1.1\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc");
  EXPECT_EQ(p.body, "abc");
  p = expectComplete("POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc");
  EXPECT_EQ(p.body, "abc");
  p = expectComplete("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(p.body, "");
}

TEST(HttpParser, TransferEncodingRules) {
  expectError("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
  expectError("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400);
  expectError("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501);
  expectError("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501);
  expectError("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400);
  expectError("POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", 400);
  expectError("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
}

TEST(HttpParser, RequestLineErrors) {
  expectError("GET  / HTTP/1.1\r\n\r\n", 400);         // double space
  expectError("GET /  HTTP/1.1\r\n\r\n", 400);
  expectError("GET / HTTP/1.1 \r\n\r\n", 400);         // trailing space
  expectError("GET /\r\n\r\n", 400);                   // HTTP/0.9 style
  expectError("G(T / HTTP/1.1\r\n\r\n", 400);          // not a token
  expectError(" GET / HTTP/1.1\r\n\r\n", 400);
  expectError("GET http://h/ HTTP/1.1\r\n\r\n", 400);  // absolute-form refused
  expectError("CONNECT h:443 HTTP/1.1\r\n\r\n", 400);  // authority-form refused
  expectError("GET * HTTP/1.1\r\n\r\n", 400);          // asterisk only for OPTIONS
  expectError("GET /a\tb HTTP/1.1\r\n\r\n", 400);
  expectError("GET / http/1.1\r\n\r\n", 400);
  expectError("GET / HTTP/1.1x\r\n\r\n", 400);
  expectError("GET / HTTP/11\r\n\r\n", 400);
  expectError("GET / HTTP/1.1\r\r\n\r\n", 400);        // bare CR
  expectError(std::string("\x16\x03\x01\x02\x00\x01\x01\r\n\r\n", 11), 400);  // TLS hello
  Parsed p = expectComplete("OPTIONS * HTTP/1.1\r\n\r\n");
  EXPECT_EQ(p.path, "*");
}

TEST(HttpParser, RequestLineErrorBeforeHeadersEnd) {
  // A bad request line is refused as soon as it ends, not after the headers.
  EXPECT_EQ(parseWhole("GET / HTTP/1.1x\r\nHost: a\r\n", {}).http_status, 400);
  EXPECT_EQ(parseWhole("GET / HTTP/2.0\r\n", {}).http_status, 505);
}

TEST(HttpParser, VersionErrors) {
  expectError("GET / HTTP/2.0\r\n\r\n", 505);
  expectError("GET / HTTP/1.2\r\n\r\n", 505);
  expectError("GET / HTTP/0.9\r\n\r\n", 505);
  expectError("GET / HTTP/3.1\r\n\r\n", 505);
  Parsed p = expectComplete("GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(p.version_minor, 0);
}

TEST(HttpParser, RequestLineLimit) {
  ParserLimits l = smallLimits();
  // "GET /" + n + " HTTP/1.1" is 14 + n bytes without CRLF.
  expectComplete("GET /" + std::string(18, 'a') + " HTTP/1.1\r\n\r\n", l);  // exactly 32
  expectError("GET /" + std::string(19, 'a') + " HTTP/1.1\r\n\r\n", 414, l);
  // Refused before the CRLF arrives.
  expectError("GET /" + std::string(40, 'a'), 414, l);
  EXPECT_EQ(parseWhole("GET /" + std::string(28, 'a'), l).http_status, 414);  // 33 bytes
  EXPECT_EQ(parseWhole("GET /" + std::string(27, 'a'), l).status, ParseStatus::kIncomplete);
  EXPECT_EQ(parseWhole("GET /" + std::string(18, 'a') + " HTTP/1.1\r", l).status,
            ParseStatus::kIncomplete);
}

TEST(HttpParser, HeaderBlockLimit) {
  ParserLimits l = smallLimits();
  // Header bytes: "X: " + value + CRLF + the final CRLF = 7 + value.
  expectComplete("GET / HTTP/1.1\r\nX: " + std::string(57, 'v') + "\r\n\r\n", l);
  expectError("GET / HTTP/1.1\r\nX: " + std::string(58, 'v') + "\r\n\r\n", 431, l);
  // Refused before the header block completes.
  expectError("GET / HTTP/1.1\r\nX: " + std::string(100, 'v'), 431, l);
  expectError("GET / HTTP/1.1\r\n" + std::string(20, 'a') + ": 1\r\n" + std::string(20, 'b') +
                  ": 2\r\n" + std::string(20, 'c') + ": 3\r\n",
              431, l);
}

TEST(HttpParser, HeaderCountLimit) {
  std::string at = "GET / HTTP/1.1\r\n";
  for (size_t i = 0; i < Request::kMaxHeaders; ++i) at += "H" + std::to_string(i) + ": v\r\n";
  Parsed p = expectComplete(at + "\r\n");
  EXPECT_EQ(p.headers.size(), Request::kMaxHeaders);
  expectError(at + "One-More: v\r\n\r\n", 431);
}

TEST(HttpParser, HeaderSyntaxErrors) {
  expectError("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);       // whitespace before colon
  expectError("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400);
  expectError("GET / HTTP/1.1\r\nX: a\r\n  folded\r\n\r\n", 400);  // obs-fold
  expectError("GET / HTTP/1.1\r\n\tX: a\r\n\r\n", 400);
  expectError("GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400);
  expectError("GET / HTTP/1.1\r\n: empty\r\n\r\n", 400);
  expectError("GET / HTTP/1.1\r\nBad(Name): a\r\n\r\n", 400);
  expectError("GET / HTTP/1.1\r\nX Y: a\r\n\r\n", 400);
  expectError("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", 400);          // bare CR in value
  expectError(std::string("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 26), 400);
}

TEST(HttpParser, BareLfLineEndingsAccepted) {
  Parsed p = expectComplete("GET /x HTTP/1.1\nHost: a\nContent-Length: 2\n\nhi");
  EXPECT_EQ(p.path, "/x");
  EXPECT_EQ(p.body, "hi");
  ASSERT_EQ(p.headers.size(), 2u);
  EXPECT_EQ(p.headers[0].second, "a");
  p = expectComplete("GET / HTTP/1.1\r\nA: 1\n\r\n");  // mixed
  EXPECT_EQ(p.headers.size(), 1u);
}

TEST(HttpParser, LeadingEmptyLinesIgnored) {
  std::string in = "\r\n\nGET / HTTP/1.1\r\n\r\n";
  Parsed p = expectComplete(in);
  EXPECT_EQ(p.method, "GET");
  EXPECT_EQ(p.consumed, in.size());
  // They count against the request-line limit, so they cannot stream forever.
  std::string blanks;
  for (int i = 0; i < 20; ++i) blanks += "\r\n";
  expectError(blanks, 414, smallLimits());
}

TEST(HttpParser, KeepAliveRules) {
  EXPECT_TRUE(expectComplete("GET / HTTP/1.1\r\n\r\n").keep_alive);
  EXPECT_FALSE(expectComplete("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
  EXPECT_FALSE(expectComplete("GET / HTTP/1.1\r\nConnection: Upgrade, CLOSE\r\n\r\n").keep_alive);
  EXPECT_TRUE(expectComplete("GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n").keep_alive);
  EXPECT_FALSE(expectComplete("GET / HTTP/1.0\r\n\r\n").keep_alive);
  EXPECT_TRUE(expectComplete("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
  EXPECT_FALSE(expectComplete("GET / HTTP/1.0\r\nConnection: close\r\n\r\n").keep_alive);
  EXPECT_FALSE(
      expectComplete("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").keep_alive);
}

TEST(HttpParser, PathAndQuery) {
  std::string in = "GET /connection/sse?token=abc&x=&flag&y=a=b&token=2 HTTP/1.1\r\n\r\n";
  RequestParser parser({});
  Request req;
  ASSERT_EQ(parser.parse(in, &req).status, ParseStatus::kComplete);
  EXPECT_EQ(req.target, "/connection/sse?token=abc&x=&flag&y=a=b&token=2");
  EXPECT_EQ(req.path, "/connection/sse");
  EXPECT_EQ(req.query, "token=abc&x=&flag&y=a=b&token=2");
  EXPECT_EQ(req.queryParam("token"), "abc");  // first wins
  EXPECT_EQ(req.queryParam("x"), "");
  EXPECT_EQ(req.queryParam("flag"), "");
  EXPECT_EQ(req.queryParam("y"), "a=b");
  EXPECT_EQ(req.queryParam("missing"), "");
  EXPECT_EQ(req.queryParam("tok"), "");

  Parsed p = expectComplete("GET /a?b?c HTTP/1.1\r\n\r\n");  // split at the first '?'
  EXPECT_EQ(p.path, "/a");
  EXPECT_EQ(p.query, "b?c");
  p = expectComplete("GET /a? HTTP/1.1\r\n\r\n");
  EXPECT_EQ(p.path, "/a");
  EXPECT_EQ(p.query, "");
}

TEST(HttpParser, HeaderHasToken) {
  std::string in =
      "GET /connection/websocket HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\n"
      "Upgrade: websocket\r\nX-List: a,,b\r\nX-List: c\r\n\r\n";
  RequestParser parser({});
  Request req;
  ASSERT_EQ(parser.parse(in, &req).status, ParseStatus::kComplete);
  EXPECT_TRUE(req.headerHasToken("connection", "upgrade"));
  EXPECT_TRUE(req.headerHasToken("Connection", "KEEP-ALIVE"));
  EXPECT_FALSE(req.headerHasToken("connection", "close"));
  EXPECT_FALSE(req.headerHasToken("connection", "upgr"));
  EXPECT_TRUE(req.headerHasToken("upgrade", "WebSocket"));
  EXPECT_TRUE(req.headerHasToken("x-list", "c"));  // later occurrence of the header
  EXPECT_TRUE(req.headerHasToken("x-list", "b"));
  EXPECT_FALSE(req.headerHasToken("missing", "x"));
  parseChecked(in);
}

TEST(HttpParser, ErrorsAreStableWhenMoreBytesArrive) {
  // Whichever stage failed, calling again with more data answers the same.
  const std::string inputs[] = {
      "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
      "GET / HTTP/9.9\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
  };
  for (const std::string& in : inputs) {
    RequestParser parser({});
    Request req;
    ParseResult a = parser.parse(in, &req);
    ParseResult b = parser.parse(in + "GET / HTTP/1.1\r\n\r\n", &req);
    EXPECT_EQ(a.status, ParseStatus::kError) << in;
    EXPECT_EQ(b.status, ParseStatus::kError) << in;
    EXPECT_EQ(a.http_status, b.http_status) << in;
    EXPECT_STREQ(a.reason, b.reason) << in;
  }
}

TEST(HttpParser, ShrinkingInputStartsOver) {
  RequestParser parser({});
  Request req;
  EXPECT_EQ(parser.parse("GET / HTTP/1.1\r\nHost: a\r\n", &req).status, ParseStatus::kIncomplete);
  ParseResult r = parser.parse("GET /b HTTP/1.1\r\n\r\n", &req);
  ASSERT_EQ(r.status, ParseStatus::kComplete);
  EXPECT_EQ(req.path, "/b");
}

TEST(HttpResponse, ReasonPhrases) {
  const std::pair<int, const char*> expected[] = {
      {101, "Switching Protocols"}, {200, "OK"}, {204, "No Content"}, {400, "Bad Request"},
      {401, "Unauthorized"}, {403, "Forbidden"}, {404, "Not Found"},
      {405, "Method Not Allowed"}, {408, "Request Timeout"}, {413, "Content Too Large"},
      {414, "URI Too Long"}, {415, "Unsupported Media Type"}, {426, "Upgrade Required"},
      {429, "Too Many Requests"}, {431, "Request Header Fields Too Large"},
      {500, "Internal Server Error"}, {501, "Not Implemented"}, {503, "Service Unavailable"},
      {505, "HTTP Version Not Supported"}};
  for (const auto& [code, phrase] : expected) EXPECT_EQ(reasonPhrase(code), phrase) << code;
  EXPECT_EQ(reasonPhrase(299), "Unknown");
}

TEST(HttpResponse, AppendResponse) {
  std::string out = "prefix|";
  appendResponse(&out, 200, "application/json", "{\"status\":\"ok\"}");
  EXPECT_EQ(out,
            "prefix|HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            "Content-Length: 15\r\n\r\n{\"status\":\"ok\"}");

  out.clear();
  appendResponse(&out, 404, "text/plain", "nope", true, "X-A: 1\r\nX-B: 2\r\n");
  EXPECT_EQ(out,
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n"
            "Connection: close\r\nX-A: 1\r\nX-B: 2\r\n\r\nnope");

  out.clear();
  appendResponse(&out, 200, "text/plain", "");
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n");
}

TEST(HttpResponse, BodylessStatusesHaveNoLength) {
  std::string out;
  appendResponse(&out, 101, "", "", false,
                 "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n");
  EXPECT_EQ(out,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: x\r\n\r\n");
  out.clear();
  appendResponse(&out, 204, "text/plain", "ignored");
  EXPECT_EQ(out, "HTTP/1.1 204 No Content\r\n\r\n");
}

TEST(HttpResponse, AppendJsonError) {
  std::string out;
  appendJsonError(&out, 401, 101, "unauthorized");
  std::string body = "{\"error\":{\"code\":101,\"message\":\"unauthorized\"}}";
  EXPECT_EQ(out, "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body);

  out.clear();
  appendJsonError(&out, 400, 107, std::string("a\"b\\c\nd\te\x01\x1f\r\b\f\0z", 16), true);
  std::string escaped =
      "{\"error\":{\"code\":107,\"message\":\"a\\\"b\\\\c\\nd\\te\\u0001\\u001f\\r\\b\\f\\u0000z\"}}";
  EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos);
  EXPECT_EQ(out.substr(out.size() - escaped.size()), escaped);
  EXPECT_NE(out.find("Content-Length: " + std::to_string(escaped.size()) + "\r\n"),
            std::string::npos);

  out.clear();
  appendJsonError(&out, 500, 100, "héllo");  // UTF-8 passes through
  EXPECT_NE(out.find("\"message\":\"héllo\""), std::string::npos);
}

}  // namespace
}  // namespace herald::http
