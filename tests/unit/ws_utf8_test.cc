#include "ws/utf8.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace herald::ws {
namespace {

std::string bytes(std::initializer_list<int> list) {
  std::string s;
  for (int b : list) s.push_back(static_cast<char>(b));
  return s;
}

// A straightforward decoder used as the reference: decodes each sequence
// and checks the code point range, overlongs and surrogates.
bool referenceValid(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    uint8_t b = static_cast<uint8_t>(s[i]);
    int n;
    uint32_t cp;
    if (b < 0x80) { ++i; continue; }
    if ((b & 0xE0) == 0xC0) { n = 1; cp = b & 0x1F; }
    else if ((b & 0xF0) == 0xE0) { n = 2; cp = b & 0x0F; }
    else if ((b & 0xF8) == 0xF0) { n = 3; cp = b & 0x07; }
    else return false;
    if (i + static_cast<size_t>(n) >= s.size()) return false;  // truncated
    for (int k = 1; k <= n; ++k) {
      uint8_t c = static_cast<uint8_t>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    static const uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

TEST(WsUtf8Test, AcceptsValidText) {
  EXPECT_TRUE(isValidUtf8(""));
  EXPECT_TRUE(isValidUtf8("Hello-µ@ßöäüàá-UTF-8!!"));
  EXPECT_TRUE(isValidUtf8("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"));  // κόσμε
  EXPECT_TRUE(isValidUtf8(bytes({0xF0, 0x9F, 0x98, 0x80})));                  // U+1F600
  EXPECT_TRUE(isValidUtf8(bytes({0xF4, 0x8F, 0xBF, 0xBF})));                  // U+10FFFF
  EXPECT_TRUE(isValidUtf8(bytes({0xED, 0x9F, 0xBF})));                        // U+D7FF
  EXPECT_TRUE(isValidUtf8(bytes({0xEE, 0x80, 0x80})));                        // U+E000
  EXPECT_TRUE(isValidUtf8(bytes({0xEF, 0xBF, 0xBF})));                        // U+FFFF
  EXPECT_TRUE(isValidUtf8(std::string("\0", 1)));
}

TEST(WsUtf8Test, RejectsBytesThatNeverAppear) {
  for (int b : {0xC0, 0xC1, 0xF5, 0xF8, 0xFE, 0xFF}) {
    Utf8Validator v;
    EXPECT_FALSE(v.feed(bytes({b}))) << b;
  }
}

TEST(WsUtf8Test, RejectsOverlongs) {
  EXPECT_FALSE(isValidUtf8(bytes({0xC0, 0xAF})));
  EXPECT_FALSE(isValidUtf8(bytes({0xC1, 0xBF})));
  EXPECT_FALSE(isValidUtf8(bytes({0xE0, 0x80, 0xAF})));
  EXPECT_FALSE(isValidUtf8(bytes({0xE0, 0x9F, 0xBF})));
  EXPECT_FALSE(isValidUtf8(bytes({0xF0, 0x80, 0x80, 0xAF})));
  EXPECT_FALSE(isValidUtf8(bytes({0xF0, 0x8F, 0xBF, 0xBF})));
}

TEST(WsUtf8Test, RejectsSurrogates) {
  EXPECT_FALSE(isValidUtf8(bytes({0xED, 0xA0, 0x80})));  // U+D800
  EXPECT_FALSE(isValidUtf8(bytes({0xED, 0xBF, 0xBF})));  // U+DFFF
  EXPECT_FALSE(isValidUtf8(bytes({0xED, 0xA0, 0x80, 0xED, 0xB0, 0x80})));  // a pair
}

TEST(WsUtf8Test, RejectsAboveMaxCodePoint) {
  EXPECT_FALSE(isValidUtf8(bytes({0xF4, 0x90, 0x80, 0x80})));  // U+110000
  EXPECT_FALSE(isValidUtf8(bytes({0xF7, 0xBF, 0xBF, 0xBF})));
}

TEST(WsUtf8Test, RejectsStrayAndMissingContinuations) {
  EXPECT_FALSE(isValidUtf8(bytes({0x80})));
  EXPECT_FALSE(isValidUtf8(bytes({0x41, 0xBF, 0x41})));
  EXPECT_FALSE(isValidUtf8(bytes({0xC2, 0x41})));
  EXPECT_FALSE(isValidUtf8(bytes({0xE1, 0x80, 0x41})));
  EXPECT_FALSE(isValidUtf8(bytes({0xF1, 0x80, 0x80, 0x41})));
}

TEST(WsUtf8Test, FailsAsSoonAsThePrefixIsInvalid) {
  // Each of these two-byte prefixes can never start valid UTF-8, so the
  // validator must fail without waiting for the rest of the sequence.
  const std::vector<std::string> prefixes = {
      bytes({0xF5}), bytes({0xC0}), bytes({0xC1}), bytes({0xE0, 0x80}), bytes({0xED, 0xA0}),
      bytes({0xF4, 0x90}), bytes({0xF0, 0x80}), bytes({0xCE, 0xBA, 0xF4, 0x90})};
  for (const auto& p : prefixes) {
    Utf8Validator v;
    EXPECT_FALSE(v.feed(p)) << testing::PrintToString(p);
    EXPECT_FALSE(v.feed("a")) << "stays failed";
  }
}

TEST(WsUtf8Test, IncompleteSequenceIsNotComplete) {
  Utf8Validator v;
  EXPECT_TRUE(v.feed(bytes({0xF0, 0x9F, 0x98})));
  EXPECT_FALSE(v.complete());
  EXPECT_TRUE(v.feed(bytes({0x80})));
  EXPECT_TRUE(v.complete());
  EXPECT_FALSE(isValidUtf8(bytes({0xE2, 0x82})));
}

TEST(WsUtf8Test, SplitAtEveryByteMatchesWholeInput) {
  const std::string text = "ascii then \xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 and \xf0\x9f\x98\x80 end";
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    Utf8Validator v;
    EXPECT_TRUE(v.feed(std::string_view(text).substr(0, cut)));
    EXPECT_TRUE(v.feed(std::string_view(text).substr(cut)));
    EXPECT_TRUE(v.complete()) << cut;
  }
  Utf8Validator v;
  for (char c : text) ASSERT_TRUE(v.feed(std::string_view(&c, 1)));
  EXPECT_TRUE(v.complete());
}

TEST(WsUtf8Test, AsciiFastPathFindsBadByteAtAnyOffset) {
  for (size_t pos = 0; pos < 40; ++pos) {
    std::string s(40, 'x');
    s[pos] = static_cast<char>(0xFF);
    EXPECT_FALSE(isValidUtf8(s)) << pos;
    s[pos] = static_cast<char>(0xC3);  // truncated 2-byte sequence
    EXPECT_EQ(isValidUtf8(s), false) << pos;
    if (pos + 1 < s.size()) {
      s[pos + 1] = static_cast<char>(0xA9);  // é
      EXPECT_TRUE(isValidUtf8(s)) << pos;
    }
  }
}

TEST(WsUtf8Test, MatchesReferenceForAllShortSequences) {
  std::string s;
  for (int a = 0; a < 256; ++a) {
    s = bytes({a});
    ASSERT_EQ(isValidUtf8(s), referenceValid(s)) << a;
    for (int b = 0; b < 256; ++b) {
      s = bytes({a, b});
      ASSERT_EQ(isValidUtf8(s), referenceValid(s)) << a << " " << b;
    }
  }
  for (int a = 0xE0; a < 0x100; ++a) {
    for (int b = 0; b < 256; ++b) {
      for (int c = 0x70; c < 0xD0; ++c) {
        s = bytes({a, b, c});
        ASSERT_EQ(isValidUtf8(s), referenceValid(s)) << a << " " << b << " " << c;
      }
    }
  }
  const int edges[] = {0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF};
  for (int a = 0xF0; a < 0x100; ++a) {
    for (int b = 0; b < 256; ++b) {
      for (int c : edges) {
        for (int d : edges) {
          s = bytes({a, b, c, d});
          ASSERT_EQ(isValidUtf8(s), referenceValid(s)) << a << " " << b << " " << c << " " << d;
        }
      }
    }
  }
}

TEST(WsUtf8Test, ResetClearsFailure) {
  Utf8Validator v;
  EXPECT_FALSE(v.feed(bytes({0xFF})));
  v.reset();
  EXPECT_TRUE(v.feed("ok"));
  EXPECT_TRUE(v.complete());
}

}  // namespace
}  // namespace herald::ws
