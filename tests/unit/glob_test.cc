#include "auth/glob.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace herald::auth {
namespace {

TEST(GlobTest, LiteralsMatchOnlyThemselves) {
  EXPECT_TRUE(globMatch("news", "news"));
  EXPECT_FALSE(globMatch("news", "new"));
  EXPECT_FALSE(globMatch("news", "newsy"));
  EXPECT_FALSE(globMatch("news", "NEWS"));
  EXPECT_TRUE(globMatch("", ""));
  EXPECT_FALSE(globMatch("", "a"));
}

TEST(GlobTest, StarMatchesAnyRunIncludingNone) {
  EXPECT_TRUE(globMatch("chat:*", "chat:"));
  EXPECT_TRUE(globMatch("chat:*", "chat:lobby"));
  EXPECT_TRUE(globMatch("chat:*", "chat:a:b#1,2"));
  EXPECT_FALSE(globMatch("chat:*", "chat"));
  EXPECT_FALSE(globMatch("chat:*", "news:chat:x"));
  EXPECT_TRUE(globMatch("*", ""));
  EXPECT_TRUE(globMatch("*", "anything"));
  EXPECT_TRUE(globMatch("*:lobby", "chat:lobby"));
  EXPECT_TRUE(globMatch("a*b*c", "abc"));
  EXPECT_TRUE(globMatch("a*b*c", "aXXbYYbZZc"));
  EXPECT_FALSE(globMatch("a*b*c", "aXXbYYbZZ"));
  EXPECT_TRUE(globMatch("**", "x"));
}

TEST(GlobTest, QuestionMarkMatchesExactlyOne) {
  EXPECT_TRUE(globMatch("room?", "room1"));
  EXPECT_FALSE(globMatch("room?", "room"));
  EXPECT_FALSE(globMatch("room?", "room12"));
  EXPECT_TRUE(globMatch("?*", "a"));
  EXPECT_FALSE(globMatch("?*", ""));
  EXPECT_TRUE(globMatch("a?c*", "abcdef"));
}

TEST(GlobTest, BacktracksToTheLastStar) {
  EXPECT_TRUE(globMatch("*ab", "aab"));
  EXPECT_TRUE(globMatch("*a?", "xxaab"));
  EXPECT_FALSE(globMatch("*a?", "xxa"));
  EXPECT_TRUE(globMatch("x*y*z", "xyyzzyz"));
}

// Found by fuzz_jwt: a '*' in the channel name was taken for the pattern's
// own '*' and used up the wildcard.
TEST(GlobTest, AStarInTheTextIsALiteral) {
  EXPECT_TRUE(globMatch("a*?bc*", "aX*?bc*\n"));
  EXPECT_TRUE(globMatch("*", "*"));
  EXPECT_TRUE(globMatch("x*", "x**y"));
  EXPECT_FALSE(globMatch("x\\*", "x*"));  // no escapes: '\\' is a literal
}

TEST(GlobTest, HostilePatternsStayFast) {
  const std::string text(4000, 'a');
  const std::string pattern = std::string(200, '*').replace(1, 0, "a") + "b";
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(globMatch(pattern, text));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST(GlobTest, MatchesAnyOfAList) {
  const std::vector<std::string> patterns = {"news", "chat:*"};
  EXPECT_TRUE(matchesAny(patterns, "news"));
  EXPECT_TRUE(matchesAny(patterns, "chat:x"));
  EXPECT_FALSE(matchesAny(patterns, "sport"));
  EXPECT_FALSE(matchesAny({}, "news"));
}

}  // namespace
}  // namespace herald::auth
