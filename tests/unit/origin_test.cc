#include "http/origin.h"

#include <gtest/gtest.h>

namespace herald::http {
namespace {

Request withOrigin(std::string_view origin) {
  Request r;
  r.method = "GET";
  r.path = "/connection/websocket";
  if (!origin.empty()) {
    r.headers[0] = {"Origin", origin};
    r.num_headers = 1;
  }
  return r;
}

TEST(OriginTest, ExactPatternsMatchThemselvesIgnoringCase) {
  EXPECT_TRUE(originMatches("https://example.com", "https://example.com"));
  EXPECT_TRUE(originMatches("https://example.com", "HTTPS://Example.COM"));
  EXPECT_FALSE(originMatches("https://example.com", "http://example.com"));
  EXPECT_FALSE(originMatches("https://example.com", "https://example.com.evil.net"));
  EXPECT_FALSE(originMatches("https://example.com", "https://example.co"));
  EXPECT_FALSE(originMatches("https://example.com", ""));
}

TEST(OriginTest, StarMatchesAnyRun) {
  EXPECT_TRUE(originMatches("https://*.example.com", "https://a.example.com"));
  EXPECT_TRUE(originMatches("https://*.example.com", "https://a.b.example.com"));
  EXPECT_FALSE(originMatches("https://*.example.com", "https://example.com"));
  EXPECT_FALSE(originMatches("https://*.example.com", "https://evil.com/.example.com.x"));
  EXPECT_FALSE(originMatches("https://*.example.com", "https://a.example.com.evil.net"));
  EXPECT_TRUE(originMatches("http://localhost:*", "http://localhost:3000"));
  EXPECT_TRUE(originMatches("*", "null"));
  EXPECT_TRUE(originMatches("**", ""));
  EXPECT_TRUE(originMatches("https://*.*.example.com", "https://a.b.example.com"));
  EXPECT_FALSE(originMatches("https://*.*.example.com", "https://a.example.com"));
  // Backtracking: the first '*' must not swallow what a later literal needs.
  EXPECT_TRUE(originMatches("*ab*ab", "xabyabzab"));
  EXPECT_FALSE(originMatches("*ab*abc", "xabyab"));
}

TEST(OriginTest, LongHostileInputIsAnsweredQuickly) {
  std::string origin(8000, 'a');
  EXPECT_FALSE(originMatches("*a*a*a*a*a*a*a*b", origin));
}

TEST(OriginTest, EmptyListAllowsEveryOrigin) {
  config::Server server;
  EXPECT_TRUE(originAllowed(withOrigin("https://anything.example"), server));
  EXPECT_TRUE(originAllowed(withOrigin(""), server));
}

TEST(OriginTest, ListAllowsOnlyMatchingOrigins) {
  config::Server server;
  server.allowed_origins = {"https://app.example.com", "https://*.example.org"};
  EXPECT_TRUE(originAllowed(withOrigin("https://app.example.com"), server));
  EXPECT_TRUE(originAllowed(withOrigin("https://x.example.org"), server));
  EXPECT_FALSE(originAllowed(withOrigin("https://evil.example.net"), server));
  EXPECT_FALSE(originAllowed(withOrigin("null"), server));
}

TEST(OriginTest, MissingOriginFollowsAllowMissingOrigin) {
  config::Server server;
  server.allowed_origins = {"https://app.example.com"};
  EXPECT_TRUE(originAllowed(withOrigin(""), server));
  server.allow_missing_origin = false;
  EXPECT_FALSE(originAllowed(withOrigin(""), server));
  server.allowed_origins.clear();
  EXPECT_FALSE(originAllowed(withOrigin(""), server));
  EXPECT_TRUE(originAllowed(withOrigin("https://x"), server));
}

TEST(OriginTest, RefusalIs403WithJsonError103) {
  std::string r = originRefusedResponse();
  EXPECT_EQ(r.rfind("HTTP/1.1 403 Forbidden\r\n", 0), 0u) << r;
  EXPECT_NE(r.find(R"({"error":{"code":103,"message":"origin not allowed"}})"), std::string::npos) << r;
}

}  // namespace
}  // namespace herald::http
