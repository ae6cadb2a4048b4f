#include "protocol/json_writer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>

namespace herald::protocol {
namespace {

std::string escaped(std::string_view s) {
  std::string out;
  appendEscaped(&out, s);
  return out;
}

// The obvious byte-at-a-time escaper, to check the fast path against.
std::string referenceEscape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

TEST(JsonWriterTest, PlainStringIsQuoted) {
  std::string out;
  JsonWriter(&out).string("hello");
  EXPECT_EQ(out, "\"hello\"");
}

TEST(JsonWriterTest, EmptyString) {
  std::string out;
  JsonWriter(&out).string("");
  EXPECT_EQ(out, "\"\"");
  EXPECT_EQ(escaped(std::string_view()), "");
}

TEST(JsonWriterTest, EscapesQuoteAndBackslash) {
  EXPECT_EQ(escaped("a\"b\\c"), "a\\\"b\\\\c");
  EXPECT_EQ(escaped("\"\"\\\\"), "\\\"\\\"\\\\\\\\");
  // '/' needs no escape, and is not escaped.
  EXPECT_EQ(escaped("</script>"), "</script>");
}

TEST(JsonWriterTest, EscapesEveryControlCharacter) {
  const char* const expected[0x20] = {
      "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006", "\\u0007",
      "\\b",     "\\t",     "\\n",     "\\u000b", "\\f",     "\\r",     "\\u000e", "\\u000f",
      "\\u0010", "\\u0011", "\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016", "\\u0017",
      "\\u0018", "\\u0019", "\\u001a", "\\u001b", "\\u001c", "\\u001d", "\\u001e", "\\u001f",
  };
  for (int c = 0; c < 0x20; ++c) {
    const std::string in(1, static_cast<char>(c));
    EXPECT_EQ(escaped(in), expected[c]) << "byte " << c;
  }
  // 0x7f and 0x20 are not control characters in JSON's sense.
  EXPECT_EQ(escaped("\x7f "), "\x7f ");
}

TEST(JsonWriterTest, PassesUtf8Through) {
  const std::string s = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe2\x80\xa8";
  EXPECT_EQ(escaped(s), s);
}

TEST(JsonWriterTest, EveryByteAtEveryBlockPositionMatchesReference) {
  // Long clean runs around one special byte exercise the 8-byte fast path,
  // its tail, and a dirty block at each alignment.
  for (int c = 0; c < 256; ++c) {
    for (size_t pos = 0; pos < 20; ++pos) {
      std::string s(20, 'x');
      s[pos] = static_cast<char>(c);
      ASSERT_EQ(escaped(s), referenceEscape(s)) << "byte " << c << " at " << pos;
    }
  }
}

TEST(JsonWriterTest, ManySpecialsInOneBlock) {
  const std::string s = "\n\n\"\"\\\\\x01\x1f" "abcdefgh" "\t";
  EXPECT_EQ(escaped(s), referenceEscape(s));
  EXPECT_EQ(escaped("\x00\x00"), "");  // a C string literal stops at the NUL
  EXPECT_EQ(escaped(std::string("\0\0", 2)), "\\u0000\\u0000");
}

TEST(JsonWriterTest, AppendsWithoutClearing) {
  std::string out = "prefix";
  appendEscaped(&out, "a\nb");
  EXPECT_EQ(out, "prefixa\\nb");
}

TEST(JsonWriterTest, Integers) {
  std::string out;
  JsonWriter w(&out);
  w.number(int64_t{0}).raw(',').number(int64_t{-1}).raw(',').number(42);
  EXPECT_EQ(out, "0,-1,42");
}

TEST(JsonWriterTest, IntegerLimits) {
  std::string out;
  JsonWriter(&out).number(std::numeric_limits<int64_t>::min());
  EXPECT_EQ(out, "-9223372036854775808");
  out.clear();
  JsonWriter(&out).number(std::numeric_limits<int64_t>::max());
  EXPECT_EQ(out, "9223372036854775807");
  out.clear();
  JsonWriter(&out).number(std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(out, "18446744073709551615");
  out.clear();
  JsonWriter(&out).number(uint64_t{0});
  EXPECT_EQ(out, "0");
  out.clear();
  JsonWriter(&out).number(std::numeric_limits<int>::min());
  EXPECT_EQ(out, "-2147483648");
}

TEST(JsonWriterTest, BooleansAndRaw) {
  std::string out;
  JsonWriter(&out).boolean(true).raw(',').boolean(false).raw(std::string_view("null"));
  EXPECT_EQ(out, "true,falsenull");
}

TEST(JsonWriterTest, KeysAndStructure) {
  std::string out;
  JsonWriter w(&out);
  w.raw('{').key("id", true).number(uint64_t{3});
  w.key("publish").raw('{').key("offset", true).number(uint64_t{46});
  w.key("epoch").string("e1").raw("}}");
  EXPECT_EQ(out, R"({"id":3,"publish":{"offset":46,"epoch":"e1"}})");
  EXPECT_EQ(w.out(), &out);
}

TEST(JsonWriterTest, StringEscapesInsideQuotes) {
  std::string out;
  JsonWriter(&out).string("say \"hi\"\n");
  EXPECT_EQ(out, R"("say \"hi\"\n")");
}

}  // namespace
}  // namespace herald::protocol
