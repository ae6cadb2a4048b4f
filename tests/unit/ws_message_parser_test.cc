#include "ws/message_parser.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace herald::ws {
namespace {

constexpr uint8_t kFin = 0x80;
constexpr uint8_t kRsv1 = 0x40;
constexpr uint8_t kRsv2 = 0x20;
constexpr uint8_t kRsv3 = 0x10;
constexpr uint8_t kText = 0x1;
constexpr uint8_t kBinary = 0x2;
constexpr uint8_t kCont = 0x0;
constexpr uint8_t kClose = 0x8;
constexpr uint8_t kPing = 0x9;
constexpr uint8_t kPong = 0xA;

std::string bytes(std::initializer_list<int> list) {
  std::string s;
  for (int b : list) s.push_back(static_cast<char>(b));
  return s;
}

enum class LengthForm { kMinimal, k16, k64 };

// A client frame: b0 is FIN/RSV/opcode; the payload is masked unless
// `masked` is false.
std::string frame(uint8_t b0, std::string_view payload, bool masked = true,
                  LengthForm form = LengthForm::kMinimal, uint32_t key = 0x37fa213d) {
  std::string f;
  f.push_back(static_cast<char>(b0));
  const uint8_t mask_bit = masked ? 0x80 : 0;
  uint64_t len = payload.size();
  if (form == LengthForm::kMinimal && len < 126) {
    f.push_back(static_cast<char>(mask_bit | len));
  } else if (form != LengthForm::k64 && len <= 0xFFFF) {
    f.push_back(static_cast<char>(mask_bit | 126));
    f.push_back(static_cast<char>(len >> 8));
    f.push_back(static_cast<char>(len));
  } else {
    f.push_back(static_cast<char>(mask_bit | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>(len >> (8 * i)));
  }
  uint8_t k[4] = {static_cast<uint8_t>(key >> 24), static_cast<uint8_t>(key >> 16),
                  static_cast<uint8_t>(key >> 8), static_cast<uint8_t>(key)};
  if (masked) f.append(reinterpret_cast<const char*>(k), 4);
  for (size_t i = 0; i < payload.size(); ++i) {
    f.push_back(static_cast<char>(payload[i] ^ (masked ? k[i & 3] : 0)));
  }
  return f;
}

// A frame header announcing `len` bytes, with no payload.
std::string headerOnly(uint8_t b0, uint64_t len) {
  std::string f;
  f.push_back(static_cast<char>(b0));
  f.push_back(static_cast<char>(0x80 | 127));
  for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>(len >> (8 * i)));
  f.append("\x01\x02\x03\x04", 4);
  return f;
}

std::string closePayload(uint16_t code, std::string_view reason = {}) {
  std::string p;
  p.push_back(static_cast<char>(code >> 8));
  p.push_back(static_cast<char>(code & 0xff));
  p.append(reason);
  return p;
}

struct Recorder : MessageHandler {
  std::vector<std::string> events;
  const char* input_begin = nullptr;
  const char* input_end = nullptr;
  bool last_message_zero_copy = false;

  void onMessage(Opcode opcode, std::string_view payload) override {
    last_message_zero_copy = input_begin != nullptr && payload.data() >= input_begin &&
                             payload.data() + payload.size() <= input_end;
    events.push_back((opcode == Opcode::kText ? "text:" : "binary:") + std::string(payload));
  }
  void onPing(std::string_view payload) override { events.push_back("ping:" + std::string(payload)); }
  void onPong(std::string_view payload) override { events.push_back("pong:" + std::string(payload)); }
  void onClose(uint16_t code, std::string_view reason) override {
    events.push_back("close:" + std::to_string(code) + ":" + std::string(reason));
  }
};

// Feeds `input` in one call (on a copy: the parser unmasks in place).
uint16_t feedAll(MessageParser& p, Recorder& r, std::string input) {
  r.input_begin = input.data();
  r.input_end = input.data() + input.size();
  uint16_t rc = p.feed(input.data(), input.size(), r);
  r.input_begin = r.input_end = nullptr;
  return rc;
}

// Feeds `input` in pieces cut at the given sizes (cycled).
uint16_t feedSplit(MessageParser& p, Recorder& r, std::string input,
                   const std::vector<size_t>& sizes) {
  size_t pos = 0, i = 0;
  while (pos < input.size()) {
    size_t n = std::min(sizes[i++ % sizes.size()], input.size() - pos);
    uint16_t rc = p.feed(input.data() + pos, n, r);
    if (rc != 0) return rc;
    pos += n;
  }
  return 0;
}

std::string deflateRaw(std::string_view msg, DeflateParams params = {}) {
  Deflater d(params);
  std::string out;
  EXPECT_TRUE(d.deflate(msg, &out));
  return out;
}

constexpr size_t kMax = 64 * 1024;

// ---------------------------------------------------------------------------
// Framing

TEST(WsMessageParserTest, SingleTextFrameIsDeliveredZeroCopy) {
  MessageParser p(kMax);
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kFin | kText, "Hello")), 0);
  EXPECT_EQ(r.events, (std::vector<std::string>{"text:Hello"}));
  EXPECT_TRUE(r.last_message_zero_copy);
  EXPECT_EQ(p.bufferedBytes(), 0u);
}

TEST(WsMessageParserTest, Rfc6455MaskedHelloExample) {
  // Section 5.7: 0x81 0x85 0x37 0xfa 0x21 0x3d 0x7f 0x9f 0x4d 0x51 0x58.
  MessageParser p(kMax);
  Recorder r;
  EXPECT_EQ(feedAll(p, r, bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51,
                                 0x58})),
            0);
  EXPECT_EQ(r.events, (std::vector<std::string>{"text:Hello"}));
}

TEST(WsMessageParserTest, BinaryAndManyFramesInOneChunk) {
  MessageParser p(kMax);
  Recorder r;
  std::string in = frame(kFin | kBinary, std::string("\x00\xff\x01", 3)) +
                   frame(kFin | kText, "a") + frame(kFin | kText, "");
  EXPECT_EQ(feedAll(p, r, in), 0);
  EXPECT_EQ(r.events, (std::vector<std::string>{std::string("binary:\x00\xff\x01", 10),
                                                "text:a", "text:"}));
}

TEST(WsMessageParserTest, SixteenAndSixtyFourBitLengths) {
  MessageParser p(kMax);
  Recorder r;
  std::string a(300, 'a'), b(40000, 'b');
  EXPECT_EQ(feedAll(p, r, frame(kFin | kBinary, a)), 0);
  EXPECT_EQ(feedAll(p, r, frame(kFin | kBinary, b)), 0);
  MessageParser big(1 << 20);
  std::string c(70000, 'c');
  EXPECT_EQ(feedAll(big, r, frame(kFin | kBinary, c)), 0);
  ASSERT_EQ(r.events.size(), 3u);
  EXPECT_EQ(r.events[0], "binary:" + a);
  EXPECT_EQ(r.events[1], "binary:" + b);
  EXPECT_EQ(r.events[2], "binary:" + c);
}

TEST(WsMessageParserTest, NonMinimalLengthEncodingsAccepted) {
  MessageParser p(kMax);
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kFin | kText, "abc", true, LengthForm::k16)), 0);
  EXPECT_EQ(feedAll(p, r, frame(kFin | kText, "def", true, LengthForm::k64)), 0);
  EXPECT_EQ(r.events, (std::vector<std::string>{"text:abc", "text:def"}));
}

TEST(WsMessageParserTest, SixtyFourBitLengthWithMsbIsProtocolError) {
  MessageParser p(kMax);
  Recorder r;
  EXPECT_EQ(feedAll(p, r, headerOnly(kFin | kBinary, 0x8000000000000001ull)), 1002);
  // Fails on the first length byte, before the header is complete.
  MessageParser q(kMax);
  EXPECT_EQ(feedAll(q, r, bytes({0x82, 0xFF, 0x80})), 1002);
}

TEST(WsMessageParserTest, UnmaskedClientFrameIsProtocolError) {
  MessageParser p(kMax);
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kFin | kText, "Hello", false)), 1002);
  EXPECT_TRUE(r.events.empty());
}

TEST(WsMessageParserTest, Rsv2AndRsv3AreProtocolErrors) {
  for (uint8_t bit : {kRsv2, kRsv3}) {
    MessageParser p(kMax);
    p.enableDeflate(DeflateParams{});
    Recorder r;
    EXPECT_EQ(feedAll(p, r, frame(kFin | bit | kText, "x")), 1002);
  }
}

TEST(WsMessageParserTest, Rsv1WithoutDeflateIsProtocolError) {
  MessageParser p(kMax);
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kFin | kRsv1 | kText, "x")), 1002);
}

TEST(WsMessageParserTest, Rsv1OnContinuationIsProtocolError) {
  MessageParser p(kMax);
  p.enableDeflate(DeflateParams{});
  Recorder r;
  std::string c = deflateRaw("Hello");
  EXPECT_EQ(feedAll(p, r, frame(kRsv1 | kText, c.substr(0, 2)) +
                              frame(kFin | kRsv1 | kCont, c.substr(2))),
            1002);
}

TEST(WsMessageParserTest, Rsv1OnControlFrameIsProtocolError) {
  MessageParser p(kMax);
  p.enableDeflate(DeflateParams{});
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kFin | kRsv1 | kPing, "")), 1002);
}

TEST(WsMessageParserTest, ReservedOpcodesAreProtocolErrors) {
  for (uint8_t op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
    MessageParser p(kMax);
    Recorder r;
    EXPECT_EQ(feedAll(p, r, frame(kFin | op, "")), 1002) << int(op);
    MessageParser q(kMax);
    EXPECT_EQ(feedAll(q, r, frame(kFin | op, "payload")), 1002) << int(op);
  }
}

TEST(WsMessageParserTest, ControlFrameOver125BytesIsProtocolError) {
  MessageParser p(kMax);
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kFin | kPing, std::string(126, 'x'))), 1002);
  MessageParser q(kMax);
  EXPECT_EQ(feedAll(q, r, frame(kFin | kPing, std::string(125, 'x'))), 0);
  EXPECT_EQ(r.events, (std::vector<std::string>{"ping:" + std::string(125, 'x')}));
}

TEST(WsMessageParserTest, FragmentedControlFrameIsProtocolError) {
  MessageParser p(kMax);
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kPing, "a")), 1002);
}

TEST(WsMessageParserTest, ContinuationWithoutMessageIsProtocolError) {
  MessageParser p(kMax);
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kFin | kCont, "x")), 1002);
  MessageParser q(kMax);
  EXPECT_EQ(feedAll(q, r, frame(kFin | kText, "a") + frame(kCont, "x")), 1002);
  EXPECT_EQ(r.events, (std::vector<std::string>{"text:a"}));
}

TEST(WsMessageParserTest, NewDataFrameDuringFragmentedMessageIsProtocolError) {
  MessageParser p(kMax);
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kText, "a") + frame(kFin | kText, "b")), 1002);
  EXPECT_TRUE(r.events.empty());
}

TEST(WsMessageParserTest, FragmentsAreReassembled) {
  MessageParser p(kMax);
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kText, "fra") + frame(kCont, "gme") + frame(kCont, "") +
                              frame(kFin | kCont, "nts")),
            0);
  EXPECT_EQ(r.events, (std::vector<std::string>{"text:fragments"}));
  EXPECT_EQ(p.bufferedBytes(), 0u);
}

TEST(WsMessageParserTest, ControlFramesBetweenFragmentsDeliveredImmediately) {
  MessageParser p(kMax);
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kBinary, "ab") + frame(kFin | kPing, "p1")), 0);
  EXPECT_EQ(r.events, (std::vector<std::string>{"ping:p1"}));
  EXPECT_EQ(feedAll(p, r, frame(kFin | kPong, "p2") + frame(kFin | kCont, "cd")), 0);
  EXPECT_EQ(r.events, (std::vector<std::string>{"ping:p1", "pong:p2", "binary:abcd"}));
}

// ---------------------------------------------------------------------------
// UTF-8

TEST(WsMessageParserTest, InvalidUtf8TextIsInvalidPayload) {
  MessageParser p(kMax);
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kFin | kText, bytes({0xce, 0xba, 0xed, 0xa0, 0x80}))), 1007);
  EXPECT_TRUE(r.events.empty());
}

TEST(WsMessageParserTest, BinaryIsNotValidated) {
  MessageParser p(kMax);
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kFin | kBinary, bytes({0xff, 0xfe}))), 0);
}

TEST(WsMessageParserTest, InvalidFragmentFailsBeforeMessageEnds) {
  // Autobahn 6.4.1/6.4.2: the second fragment is bad; fail before the third.
  MessageParser p(kMax);
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kText, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5")), 0);
  EXPECT_EQ(feedAll(p, r, frame(kCont, bytes({0xf4, 0x90, 0x80, 0x80}))), 1007);
}

TEST(WsMessageParserTest, InvalidBytesInPartialFrameFailFast) {
  // Autobahn 6.4.3/6.4.4: one frame whose payload arrives in pieces.
  std::string payload = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5" +
                        bytes({0xf4, 0x90, 0x80, 0x80}) + "\x65\x64\x69\x74\x65\x64";
  std::string f = frame(kFin | kText, payload);
  MessageParser p(kMax);
  Recorder r;
  const size_t header = 6;
  EXPECT_EQ(p.feed(f.data(), header + 11, r), 0);         // valid so far
  EXPECT_EQ(p.feed(f.data() + header + 11, 2, r), 1007);  // F4 90: fails now
}

TEST(WsMessageParserTest, CodePointSplitAcrossFragmentsIsValid) {
  MessageParser p(kMax);
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kText, bytes({0xf0, 0x9f})) + frame(kCont, bytes({0x98})) +
                              frame(kFin | kCont, bytes({0x80}))),
            0);
  EXPECT_EQ(r.events, (std::vector<std::string>{"text:\xf0\x9f\x98\x80"}));
}

TEST(WsMessageParserTest, TruncatedCodePointAtMessageEndIsInvalid) {
  MessageParser p(kMax);
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kText, "ok") + frame(kFin | kCont, bytes({0xe2, 0x82}))), 1007);
  MessageParser q(kMax);
  EXPECT_EQ(feedAll(q, r, frame(kFin | kText, bytes({0xe2, 0x82}))), 1007);
  EXPECT_TRUE(r.events.empty());
}

// ---------------------------------------------------------------------------
// Close

TEST(WsMessageParserTest, CloseWithoutBodyReportsNoStatus) {
  MessageParser p(kMax);
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kFin | kClose, "")), 0);
  EXPECT_EQ(r.events, (std::vector<std::string>{"close:1005:"}));
}

TEST(WsMessageParserTest, CloseWithOneByteIsProtocolError) {
  MessageParser p(kMax);
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kFin | kClose, "\x03")), 1002);
  EXPECT_TRUE(r.events.empty());
}

TEST(WsMessageParserTest, CloseWithCodeAndReason) {
  MessageParser p(kMax);
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kFin | kClose, closePayload(1000, "bye \xce\xba"))), 0);
  EXPECT_EQ(r.events, (std::vector<std::string>{"close:1000:bye \xce\xba"}));
}

TEST(WsMessageParserTest, CloseWithInvalidCodeIsProtocolError) {
  for (uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    MessageParser p(kMax);
    Recorder r;
    EXPECT_EQ(feedAll(p, r, frame(kFin | kClose, closePayload(code))), 1002) << code;
    EXPECT_TRUE(r.events.empty());
  }
}

TEST(WsMessageParserTest, CloseWithValidCodesIsDelivered) {
  for (uint16_t code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000,
                        4999}) {
    MessageParser p(kMax);
    Recorder r;
    EXPECT_EQ(feedAll(p, r, frame(kFin | kClose, closePayload(code))), 0) << code;
    EXPECT_EQ(r.events, (std::vector<std::string>{"close:" + std::to_string(code) + ":"}));
  }
}

TEST(WsMessageParserTest, CloseReasonMustBeUtf8) {
  MessageParser p(kMax);
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kFin | kClose,
                                closePayload(1000, bytes({0xce, 0xba, 0xed, 0xa0, 0x80})))),
            1007);
  EXPECT_TRUE(r.events.empty());
}

TEST(WsMessageParserTest, NothingIsConsumedAfterClose) {
  MessageParser p(kMax);
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kFin | kClose, closePayload(1000)) + frame(kFin | kText, "late") +
                              frame(kFin | kPing, "")),
            0);
  EXPECT_EQ(feedAll(p, r, frame(kFin | kText, "later")), 0);
  EXPECT_EQ(r.events, (std::vector<std::string>{"close:1000:"}));
  EXPECT_EQ(p.bufferedBytes(), 0u);
}

TEST(WsMessageParserTest, CloseBetweenFragmentsIsDelivered) {
  MessageParser p(kMax);
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kText, "part") + frame(kFin | kClose, closePayload(1001))), 0);
  EXPECT_EQ(r.events, (std::vector<std::string>{"close:1001:"}));
}

// ---------------------------------------------------------------------------
// Limits and memory

TEST(WsMessageParserTest, AnnouncedLengthOverLimitFailsBeforePayload) {
  MessageParser p(kMax);
  Recorder r;
  EXPECT_EQ(feedAll(p, r, headerOnly(kFin | kBinary, kMax + 1)), 1009);
  MessageParser q(kMax);
  EXPECT_EQ(feedAll(q, r, headerOnly(kFin | kBinary, kMax)), 0);  // exactly at the limit
  EXPECT_EQ(q.bufferedBytes(), 0u);
}

TEST(WsMessageParserTest, TwoGigabyteAnnouncedLengthIsTooBig) {
  MessageParser p(kMax);
  Recorder r;
  EXPECT_EQ(feedAll(p, r, headerOnly(kFin | kBinary, 2ull << 30)), 1009);
  EXPECT_EQ(p.bufferedBytes(), 0u);
}

TEST(WsMessageParserTest, AccumulatedFragmentsOverLimitAreTooBig) {
  MessageParser p(100);
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kBinary, std::string(60, 'a'))), 0);
  EXPECT_EQ(feedAll(p, r, frame(kCont, std::string(40, 'b'))), 0);  // exactly 100
  EXPECT_EQ(feedAll(p, r, headerOnly(kFin | kCont, 1)), 1009);
}

TEST(WsMessageParserTest, FloodOfTinyFragmentsIsBounded) {
  const size_t max = 4096;
  MessageParser p(max);
  Recorder r;
  std::string flood = frame(kBinary, "x");
  for (size_t i = 0; i < max + 10; ++i) flood += frame(kCont, "y");
  uint16_t rc = 0;
  for (size_t pos = 0; pos < flood.size() && rc == 0; pos += 1000) {
    size_t n = std::min<size_t>(1000, flood.size() - pos);
    rc = p.feed(flood.data() + pos, n, r);
    EXPECT_LE(p.bufferedBytes(), max + 14);
  }
  EXPECT_EQ(rc, 1009);
  EXPECT_TRUE(r.events.empty());
}

TEST(WsMessageParserTest, SplitHeaderKeepsOnlyHeaderBytes) {
  MessageParser p(kMax);
  Recorder r;
  std::string f = frame(kFin | kBinary, std::string(1000, 'q'));
  EXPECT_EQ(p.feed(f.data(), 1, r), 0);
  EXPECT_EQ(p.bufferedBytes(), 1u);
  EXPECT_EQ(p.feed(f.data() + 1, 3, r), 0);
  EXPECT_EQ(p.bufferedBytes(), 4u);
  EXPECT_EQ(p.feed(f.data() + 4, 4, r), 0);  // header complete, no payload yet
  EXPECT_EQ(p.bufferedBytes(), 0u);
  EXPECT_EQ(p.feed(f.data() + 8, 500, r), 0);
  EXPECT_EQ(p.bufferedBytes(), 500u);
  EXPECT_EQ(p.feed(f.data() + 508, f.size() - 508, r), 0);
  EXPECT_EQ(p.bufferedBytes(), 0u);
  EXPECT_EQ(r.events, (std::vector<std::string>{"binary:" + std::string(1000, 'q')}));
}

TEST(WsMessageParserTest, HeaderSplitPayloadWholeIsZeroCopy) {
  MessageParser p(kMax);
  Recorder r;
  std::string f = frame(kFin | kText, "zero copy");
  EXPECT_EQ(p.feed(f.data(), 3, r), 0);
  EXPECT_EQ(feedAll(p, r, f.substr(3)), 0);
  EXPECT_EQ(r.events, (std::vector<std::string>{"text:zero copy"}));
  EXPECT_TRUE(r.last_message_zero_copy);
}

TEST(WsMessageParserTest, SplitAtEveryByteGivesIdenticalMessages) {
  std::string stream =
      frame(kFin | kText, "Hello") + frame(kBinary, std::string(300, 'b')) +
      frame(kFin | kPing, "ping") + frame(kCont, "more", true, LengthForm::k64) +
      frame(kFin | kCont, std::string(70, 'e')) + frame(kFin | kText, "\xce\xba\xe1\xbd\xb9") +
      frame(kText, bytes({0xf0, 0x9f})) + frame(kFin | kCont, bytes({0x98, 0x80})) +
      frame(kFin | kPong, "") + frame(kFin | kBinary, "") +
      frame(kFin | kClose, closePayload(1000, "done"));
  Recorder whole;
  MessageParser p(kMax);
  ASSERT_EQ(feedAll(p, whole, stream), 0);
  ASSERT_EQ(whole.events.size(), 8u);
  for (size_t step : {1, 2, 3, 5, 7, 13, 64}) {
    Recorder split;
    MessageParser q(kMax);
    ASSERT_EQ(feedSplit(q, split, stream, {step}), 0);
    EXPECT_EQ(split.events, whole.events) << step;
  }
}

TEST(WsMessageParserTest, RandomSplitsGiveIdenticalMessages) {
  std::mt19937 rng(7);
  std::string stream;
  for (int i = 0; i < 50; ++i) {
    std::string payload(rng() % 300, static_cast<char>('a' + i % 26));
    uint8_t op = (i % 3 == 0) ? kBinary : kText;
    if (i % 5 == 0) {
      stream += frame(op, payload.substr(0, payload.size() / 2), true, LengthForm::kMinimal,
                      static_cast<uint32_t>(rng()));
      stream += frame(kFin | kPing, "x");
      stream += frame(kFin | kCont, payload.substr(payload.size() / 2), true,
                      LengthForm::k16, static_cast<uint32_t>(rng()));
    } else {
      stream += frame(kFin | op, payload, true, LengthForm::kMinimal,
                      static_cast<uint32_t>(rng()));
    }
  }
  Recorder whole;
  MessageParser p(kMax);
  ASSERT_EQ(feedAll(p, whole, stream), 0);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<size_t> sizes;
    for (int i = 0; i < 16; ++i) sizes.push_back(1 + rng() % 40);
    Recorder split;
    MessageParser q(kMax);
    ASSERT_EQ(feedSplit(q, split, stream, sizes), 0);
    EXPECT_EQ(split.events, whole.events);
    EXPECT_EQ(q.bufferedBytes(), 0u);
  }
}

TEST(WsMessageParserTest, ErrorIsSticky) {
  MessageParser p(kMax);
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kFin | kText, "x", false)), 1002);
  EXPECT_EQ(feedAll(p, r, frame(kFin | kText, "x")), 1002);
  EXPECT_TRUE(r.events.empty());
  EXPECT_EQ(p.bufferedBytes(), 0u);
}

TEST(WsMessageParserTest, MovedParserKeepsPartialMessage) {
  MessageParser p(kMax);
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kText, "mov")), 0);
  MessageParser q(std::move(p));
  EXPECT_EQ(q.bufferedBytes(), 3u);
  EXPECT_EQ(feedAll(q, r, frame(kFin | kCont, "ed")), 0);
  EXPECT_EQ(r.events, (std::vector<std::string>{"text:moved"}));
}

// ---------------------------------------------------------------------------
// permessage-deflate

TEST(WsMessageParserTest, CompressedHelloFromRfc7692) {
  MessageParser p(kMax);
  p.enableDeflate(DeflateParams{});
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kFin | kRsv1 | kText,
                                bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}))),
            0);
  EXPECT_EQ(r.events, (std::vector<std::string>{"text:Hello"}));
}

TEST(WsMessageParserTest, CompressedFragmentedHelloFromRfc7692) {
  // Section 7.2.3.1 (fragments: f2 48 cd | c9 c9 07 00).
  MessageParser p(kMax);
  p.enableDeflate(DeflateParams{});
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kRsv1 | kText, bytes({0xf2, 0x48, 0xcd})) +
                              frame(kFin | kCont, bytes({0xc9, 0xc9, 0x07, 0x00}))),
            0);
  EXPECT_EQ(r.events, (std::vector<std::string>{"text:Hello"}));
  EXPECT_EQ(p.bufferedBytes(), 0u);
}

TEST(WsMessageParserTest, CompressedMessagesShareTheWindow) {
  MessageParser p(kMax);
  p.enableDeflate(DeflateParams{});
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kFin | kRsv1 | kText,
                                bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00})) +
                              frame(kFin | kRsv1 | kText, bytes({0xf2, 0x00, 0x11, 0x00, 0x00}))),
            0);
  EXPECT_EQ(r.events, (std::vector<std::string>{"text:Hello", "text:Hello"}));
}

TEST(WsMessageParserTest, UncompressedMessageAllowedWithDeflate) {
  MessageParser p(kMax);
  p.enableDeflate(DeflateParams{});
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kFin | kText, "plain")), 0);
  EXPECT_EQ(r.events, (std::vector<std::string>{"text:plain"}));
}

TEST(WsMessageParserTest, CompressedSplitAtEveryByte) {
  DeflateParams params;
  Deflater client(params);
  std::string stream;
  std::vector<std::string> expected;
  for (int i = 0; i < 6; ++i) {
    std::string msg = "message " + std::to_string(i) + " " + std::string(200 + i * 50, 'm');
    std::string c;
    ASSERT_TRUE(client.deflate(msg, &c));
    if (i % 2 == 0) {
      stream += frame(kFin | kRsv1 | kText, c);
    } else {
      stream += frame(kRsv1 | kBinary, c.substr(0, 3)) + frame(kFin | kPing, "") +
                frame(kFin | kCont, c.substr(3));
      expected.push_back("ping:");
    }
    expected.push_back((i % 2 == 0 ? "text:" : "binary:") + msg);
  }
  for (size_t step : {1, 4, 1000000}) {
    MessageParser p(kMax);
    p.enableDeflate(params);
    Recorder r;
    ASSERT_EQ(feedSplit(p, r, stream, {step}), 0) << step;
    EXPECT_EQ(r.events, expected) << step;
    EXPECT_EQ(p.bufferedBytes(), 0u);
  }
}

TEST(WsMessageParserTest, InflatedSizeOverLimitIsTooBig) {
  std::string bomb = deflateRaw(std::string(1 << 20, 'a'));
  MessageParser p(kMax);
  p.enableDeflate(DeflateParams{});
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kFin | kRsv1 | kBinary, bomb)), 1009);
  MessageParser q(kMax);
  q.enableDeflate(DeflateParams{});
  EXPECT_EQ(feedSplit(q, r, frame(kFin | kRsv1 | kBinary, bomb), {100}), 1009);
  EXPECT_TRUE(r.events.empty());
}

TEST(WsMessageParserTest, CompressedAnnouncedLengthOverLimitIsTooBig) {
  MessageParser p(kMax);
  p.enableDeflate(DeflateParams{});
  Recorder r;
  EXPECT_EQ(feedAll(p, r, headerOnly(kFin | kRsv1 | kBinary, 2ull << 30)), 1009);
}

TEST(WsMessageParserTest, CorruptCompressedDataIsInvalidPayload) {
  MessageParser p(kMax);
  p.enableDeflate(DeflateParams{});
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kFin | kRsv1 | kBinary, bytes({0xff, 0xff, 0xff}))), 1007);
  MessageParser q(kMax);
  q.enableDeflate(DeflateParams{});
  EXPECT_EQ(feedAll(q, r, frame(kRsv1 | kBinary, bytes({0xff, 0xff})) +
                              frame(kFin | kCont, bytes({0xff}))),
            1007);
}

TEST(WsMessageParserTest, CompressedInvalidUtf8IsInvalidPayload) {
  std::string c = deflateRaw(bytes({'o', 'k', 0xed, 0xa0, 0x80}));
  MessageParser p(kMax);
  p.enableDeflate(DeflateParams{});
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kFin | kRsv1 | kText, c)), 1007);
  MessageParser q(kMax);
  q.enableDeflate(DeflateParams{});
  EXPECT_EQ(feedSplit(q, r, frame(kFin | kRsv1 | kText, c), {1}), 1007);
}

TEST(WsMessageParserTest, EmptyCompressedMessages) {
  MessageParser p(kMax);
  p.enableDeflate(DeflateParams{});
  Recorder r;
  EXPECT_EQ(feedAll(p, r, frame(kFin | kRsv1 | kText, std::string(1, '\0')) +
                              frame(kFin | kRsv1 | kText, "") + frame(kFin | kRsv1 | kText, "Hi")),
            1007);  // "Hi" is not deflate data: the first two still arrive
  EXPECT_EQ(r.events, (std::vector<std::string>{"text:", "text:"}));
}

}  // namespace
}  // namespace herald::ws
