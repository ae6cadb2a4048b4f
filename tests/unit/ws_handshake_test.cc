#include "ws/handshake.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <utility>

namespace herald::ws {
namespace {

using HeaderList = std::initializer_list<std::pair<std::string_view, std::string_view>>;

http::Request makeRequest(HeaderList headers, std::string_view method = "GET",
                          int version_minor = 1) {
  http::Request r;
  r.method = method;
  r.target = "/connection/websocket";
  r.path = r.target;
  r.version_minor = version_minor;
  for (const auto& [name, value] : headers) {
    r.headers[r.num_headers++] = http::Header{name, value};
  }
  return r;
}

const HeaderList kValid = {{"Host", "example.com"},
                           {"Upgrade", "websocket"},
                           {"Connection", "Upgrade"},
                           {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                           {"Sec-WebSocket-Version", "13"}};

std::string bodyOf(const std::string& response) {
  size_t p = response.find("\r\n\r\n");
  return p == std::string::npos ? "" : response.substr(p + 4);
}

bool hasHeaderLine(const std::string& response, const std::string& line) {
  return response.find("\r\n" + line + "\r\n") != std::string::npos;
}

void expectJsonRefusal(const HandshakeResult& r, int status) {
  EXPECT_EQ(r.status, status);
  EXPECT_EQ(r.response.rfind("HTTP/1.1 " + std::to_string(status) + " ", 0), 0u) << r.response;
  EXPECT_TRUE(hasHeaderLine(r.response, "Content-Type: application/json")) << r.response;
  EXPECT_TRUE(hasHeaderLine(r.response, "Connection: close")) << r.response;
  std::string body = bodyOf(r.response);
  EXPECT_EQ(body, std::string("{\"error\":{\"code\":107,\"message\":\"") + r.reason + "\"}}");
  EXPECT_TRUE(hasHeaderLine(r.response, "Content-Length: " + std::to_string(body.size())));
  EXPECT_FALSE(r.deflate.has_value());
  EXPECT_STRNE(r.reason, "");
}

TEST(WsHandshakeTest, Rfc6455AcceptKeyExample) {
  EXPECT_EQ(computeAcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WsHandshakeTest, AcceptsValidUpgrade) {
  HandshakeResult r = acceptHandshake(makeRequest(kValid), true);
  EXPECT_EQ(r.status, 101);
  EXPECT_EQ(r.response.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0), 0u);
  EXPECT_TRUE(hasHeaderLine(r.response, "Upgrade: websocket"));
  EXPECT_TRUE(hasHeaderLine(r.response, "Connection: Upgrade"));
  EXPECT_TRUE(hasHeaderLine(r.response, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
  EXPECT_EQ(r.response.find("Sec-WebSocket-Extensions"), std::string::npos);
  EXPECT_EQ(r.response.substr(r.response.size() - 4), "\r\n\r\n");
  EXPECT_FALSE(r.deflate.has_value());
}

TEST(WsHandshakeTest, NegotiatesDeflate) {
  HandshakeResult r = acceptHandshake(
      makeRequest({{"Upgrade", "websocket"},
                   {"Connection", "Upgrade"},
                   {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                   {"Sec-WebSocket-Version", "13"},
                   {"Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"}}),
      true);
  ASSERT_EQ(r.status, 101);
  ASSERT_TRUE(r.deflate.has_value());
  EXPECT_TRUE(hasHeaderLine(r.response, "Sec-WebSocket-Extensions: permessage-deflate"));
}

TEST(WsHandshakeTest, DeflateOfferSplitOverTwoHeaderLines) {
  HandshakeResult r = acceptHandshake(
      makeRequest({{"Upgrade", "websocket"},
                   {"Connection", "Upgrade"},
                   {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                   {"Sec-WebSocket-Version", "13"},
                   {"Sec-WebSocket-Extensions", "x-unknown"},
                   {"Sec-WebSocket-Extensions", "permessage-deflate; server_no_context_takeover"}}),
      true);
  ASSERT_TRUE(r.deflate.has_value());
  EXPECT_TRUE(r.deflate->server_no_context_takeover);
}

TEST(WsHandshakeTest, DeflateNotAllowed) {
  HandshakeResult r = acceptHandshake(
      makeRequest({{"Upgrade", "websocket"},
                   {"Connection", "Upgrade"},
                   {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                   {"Sec-WebSocket-Version", "13"},
                   {"Sec-WebSocket-Extensions", "permessage-deflate"}}),
      false);
  EXPECT_EQ(r.status, 101);
  EXPECT_FALSE(r.deflate.has_value());
  EXPECT_EQ(r.response.find("Sec-WebSocket-Extensions"), std::string::npos);
}

TEST(WsHandshakeTest, HeaderNamesAndTokensAreCaseInsensitive) {
  HandshakeResult r = acceptHandshake(
      makeRequest({{"upgrade", "WebSocket"},
                   {"CONNECTION", "keep-alive, UPGRADE"},
                   {"sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="},
                   {"sec-websocket-version", "13"}}),
      true);
  EXPECT_EQ(r.status, 101);
}

TEST(WsHandshakeTest, ConnectionTokenOnSecondHeaderLine) {
  HandshakeResult r = acceptHandshake(
      makeRequest({{"Upgrade", "websocket"},
                   {"Connection", "keep-alive"},
                   {"Connection", "Upgrade"},
                   {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                   {"Sec-WebSocket-Version", "13"}}),
      true);
  EXPECT_EQ(r.status, 101);
}

TEST(WsHandshakeTest, RefusesNonGet) {
  HandshakeResult r = acceptHandshake(makeRequest(kValid, "POST"), true);
  expectJsonRefusal(r, 405);
}

TEST(WsHandshakeTest, RefusesHttp10) {
  HandshakeResult r = acceptHandshake(makeRequest(kValid, "GET", 0), true);
  expectJsonRefusal(r, 400);
}

TEST(WsHandshakeTest, RefusesMissingUpgrade) {
  HandshakeResult r = acceptHandshake(
      makeRequest({{"Connection", "Upgrade"},
                   {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                   {"Sec-WebSocket-Version", "13"}}),
      true);
  expectJsonRefusal(r, 400);
  r = acceptHandshake(makeRequest({{"Upgrade", "h2c"},
                                   {"Connection", "Upgrade"},
                                   {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                                   {"Sec-WebSocket-Version", "13"}}),
                      true);
  expectJsonRefusal(r, 400);
}

TEST(WsHandshakeTest, RefusesMissingConnectionUpgrade) {
  HandshakeResult r = acceptHandshake(
      makeRequest({{"Upgrade", "websocket"},
                   {"Connection", "keep-alive"},
                   {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                   {"Sec-WebSocket-Version", "13"}}),
      true);
  expectJsonRefusal(r, 400);
}

TEST(WsHandshakeTest, WrongVersionGets426WithSupportedVersion) {
  HandshakeResult r = acceptHandshake(
      makeRequest({{"Upgrade", "websocket"},
                   {"Connection", "Upgrade"},
                   {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                   {"Sec-WebSocket-Version", "8"}}),
      true);
  expectJsonRefusal(r, 426);
  EXPECT_TRUE(hasHeaderLine(r.response, "Sec-WebSocket-Version: 13"));
}

TEST(WsHandshakeTest, RefusesMissingVersion) {
  HandshakeResult r = acceptHandshake(
      makeRequest({{"Upgrade", "websocket"},
                   {"Connection", "Upgrade"},
                   {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}}),
      true);
  expectJsonRefusal(r, 400);
}

TEST(WsHandshakeTest, RefusesBadKeys) {
  for (std::string_view key : {"", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ=",
                               "dGhlIHNhbXBsZSBub25j", "dGhlIHNhbXBsZSBub25jZQ==AAAA",
                               "dGhlIHNhbXBsZSBub25j*Q==", "dGhlIHNhbXBsZSBub25jZSE=",
                               "dGhlIHNhbXBsZSBub25jZQ=A"}) {
    HandshakeResult r = acceptHandshake(makeRequest({{"Upgrade", "websocket"},
                                                     {"Connection", "Upgrade"},
                                                     {"Sec-WebSocket-Key", key},
                                                     {"Sec-WebSocket-Version", "13"}}),
                                        true);
    expectJsonRefusal(r, 400);
  }
}

TEST(WsHandshakeTest, RefusesRepeatedKey) {
  HandshakeResult r = acceptHandshake(
      makeRequest({{"Upgrade", "websocket"},
                   {"Connection", "Upgrade"},
                   {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                   {"Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA=="},
                   {"Sec-WebSocket-Version", "13"}}),
      true);
  expectJsonRefusal(r, 400);
}

TEST(WsHandshakeTest, KeyWithSurroundingSpacesAccepted) {
  HandshakeResult r = acceptHandshake(
      makeRequest({{"Upgrade", "websocket"},
                   {"Connection", "Upgrade"},
                   {"Sec-WebSocket-Key", " dGhlIHNhbXBsZSBub25jZQ== "},
                   {"Sec-WebSocket-Version", "13"}}),
      true);
  EXPECT_EQ(r.status, 101);
  EXPECT_TRUE(hasHeaderLine(r.response, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
}

}  // namespace
}  // namespace herald::ws
