// The SSE text Herald writes: data lines that survive line breaks in a
// payload, and the resume cursor's round trip and refusals.
#include "sse/stream_format.h"

#include <gtest/gtest.h>

namespace herald::sse {
namespace {

TEST(SseDataTest, OneLineOfJsonIsOneDataLine) {
  std::string out;
  appendData(&out, R"({"a":1})");
  EXPECT_EQ(out, "data: {\"a\":1}\n");
}

TEST(SseDataTest, EveryKindOfLineBreakStartsANewDataLine) {
  std::string out;
  appendData(&out, "{\n\"a\":\r\n1\r}");
  EXPECT_EQ(out, "data: {\ndata: \"a\":\ndata: 1\ndata: }\n");
}

TEST(SseDataTest, TrailingLineBreakGivesAnEmptyLastLine) {
  std::string out;
  appendData(&out, "{}\n");
  EXPECT_EQ(out, "data: {}\ndata: \n");
}

TEST(SseCursorTest, RoundTripsEveryChannel) {
  Cursor c;
  c.set("chat:lobby", 45, "e1");
  c.set("news.eu", 0, "abc");
  c.advance("chat:lobby", 46);
  c.advance("chat:lobby", 40);  // never backwards
  c.advance("unknown", 9);      // ignored
  std::string text;
  c.appendTo(&text);
  EXPECT_EQ(text, "46.e1.chat:lobby,0.abc.news.eu");

  Cursor back;
  ASSERT_TRUE(back.parse(text));
  ASSERT_NE(back.find("chat:lobby"), nullptr);
  EXPECT_EQ(back.find("chat:lobby")->offset, 46u);
  EXPECT_EQ(back.find("chat:lobby")->epoch, "e1");
  ASSERT_NE(back.find("news.eu"), nullptr);
  EXPECT_EQ(back.find("news.eu")->epoch, "abc");
  EXPECT_EQ(back.find("news"), nullptr);
}

TEST(SseCursorTest, UserListsAndPercentSignsInNamesAreEscaped) {
  Cursor c;
  c.set("dm:chat#42,43", 7, "e");
  c.set("a%b", 1, "f");
  std::string text;
  c.appendTo(&text);
  EXPECT_EQ(text, "7.e.dm:chat#42%2C43,1.f.a%25b");
  Cursor back;
  ASSERT_TRUE(back.parse(text));
  ASSERT_NE(back.find("dm:chat#42,43"), nullptr);
  EXPECT_EQ(back.find("dm:chat#42,43")->offset, 7u);
  ASSERT_NE(back.find("a%b"), nullptr);
  EXPECT_FALSE(back.parse("1.e.a%2"));
  EXPECT_FALSE(back.parse("1.e.a%41"));
}

TEST(SseCursorTest, EraseAndEmpty) {
  Cursor c;
  EXPECT_TRUE(c.parse(""));
  EXPECT_TRUE(c.empty());
  c.set("a", 1, "e");
  c.erase("a");
  EXPECT_TRUE(c.empty());
}

TEST(SseCursorTest, AnEpochItCannotCarryDropsTheChannel) {
  Cursor c;
  c.set("a", 1, "e");
  c.set("a", 2, "bad.epoch");
  EXPECT_EQ(c.find("a"), nullptr);
  c.set("b", 1, "");
  EXPECT_TRUE(c.empty());
}

TEST(SseCursorTest, RefusesWhatItDidNotWrite) {
  for (const char* bad : {"x", "1.e", "1.e.", ".e.ch", "-1.e.ch", "1x.e.ch", "1..ch", "1.e.a b",
                          "1.e.ch,", "1.e.ch,1.f.ch", "99999999999999999999999.e.ch"}) {
    Cursor c;
    EXPECT_FALSE(c.parse(bad)) << bad;
    EXPECT_TRUE(c.empty()) << bad;
  }
}

}  // namespace
}  // namespace herald::sse
