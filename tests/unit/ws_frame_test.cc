#include "ws/frame.h"

#include <gtest/gtest.h>

#include <vector>

namespace herald::ws {
namespace {

std::vector<uint8_t> header(Opcode op, uint64_t len, bool fin = true, bool rsv1 = false) {
  uint8_t buf[kMaxFrameHeader];
  size_t n = encodeFrameHeader(buf, op, len, fin, rsv1);
  return std::vector<uint8_t>(buf, buf + n);
}

TEST(WsFrameTest, SevenBitLength) {
  EXPECT_EQ(header(Opcode::kText, 0), (std::vector<uint8_t>{0x81, 0x00}));
  EXPECT_EQ(header(Opcode::kBinary, 125), (std::vector<uint8_t>{0x82, 125}));
}

TEST(WsFrameTest, SixteenBitLength) {
  EXPECT_EQ(header(Opcode::kText, 126), (std::vector<uint8_t>{0x81, 126, 0x00, 126}));
  EXPECT_EQ(header(Opcode::kText, 65535), (std::vector<uint8_t>{0x81, 126, 0xff, 0xff}));
}

TEST(WsFrameTest, SixtyFourBitLength) {
  EXPECT_EQ(header(Opcode::kBinary, 65536),
            (std::vector<uint8_t>{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}));
  EXPECT_EQ(header(Opcode::kBinary, 0x0102030405060708ull),
            (std::vector<uint8_t>{0x82, 127, 1, 2, 3, 4, 5, 6, 7, 8}));
}

TEST(WsFrameTest, FinRsv1AndOpcodeBits) {
  EXPECT_EQ(header(Opcode::kText, 1, false)[0], 0x01);
  EXPECT_EQ(header(Opcode::kText, 1, true, true)[0], 0xC1);
  EXPECT_EQ(header(Opcode::kContinuation, 1, true)[0], 0x80);
  EXPECT_EQ(header(Opcode::kClose, 2)[0], 0x88);
  EXPECT_EQ(header(Opcode::kPing, 0)[0], 0x89);
  EXPECT_EQ(header(Opcode::kPong, 0)[0], 0x8A);
}

TEST(WsFrameTest, ServerFramesAreNeverMasked) {
  EXPECT_EQ(header(Opcode::kText, 10)[1] & 0x80, 0);
  EXPECT_EQ(header(Opcode::kText, 1000)[1] & 0x80, 0);
  EXPECT_EQ(header(Opcode::kText, 100000)[1] & 0x80, 0);
}

TEST(WsFrameTest, ValidCloseCodes) {
  for (uint16_t code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999,
                        4000, 4999}) {
    EXPECT_TRUE(isValidCloseCode(code)) << code;
  }
}

TEST(WsFrameTest, IanaRegisteredCodes1012To1014AreValid) {
  EXPECT_TRUE(isValidCloseCode(1012));
  EXPECT_TRUE(isValidCloseCode(1013));
  EXPECT_TRUE(isValidCloseCode(1014));
}

TEST(WsFrameTest, InvalidCloseCodes) {
  // The Autobahn 7.9.* list, the reserved codes and the edges of each range.
  for (uint16_t code : {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000,
                        65535}) {
    EXPECT_FALSE(isValidCloseCode(code)) << code;
  }
}

}  // namespace
}  // namespace herald::ws
