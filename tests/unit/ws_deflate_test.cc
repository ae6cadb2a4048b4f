#include "ws/deflate.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <random>
#include <string>

namespace herald::ws {
namespace {

std::string bytes(std::initializer_list<int> list) {
  std::string s;
  for (int b : list) s.push_back(static_cast<char>(b));
  return s;
}

// Text that compresses well but not trivially: words drawn at random.
std::string sampleText(size_t size, unsigned seed) {
  static const char* kWords[] = {"herald ", "channel ", "publish ", "offset ", "epoch ",
                                 "{\"id\":", "42,", "\"push\":", "subscribe ", "presence "};
  std::mt19937 rng(seed);
  std::string s;
  while (s.size() < size) s += kWords[rng() % 10];
  s.resize(size);
  return s;
}

std::string randomBytes(size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(size, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// Inflates one message payload (as sent on the wire) in one go.
InflateStatus inflateMessage(Inflater& inf, std::string_view payload, std::string* out,
                             size_t max = 1 << 24) {
  InflateStatus st = inf.inflate(payload, out, max);
  if (st != InflateStatus::kOk) return st;
  return inf.finish(out, max);
}

// ---------------------------------------------------------------------------
// Negotiation

TEST(WsDeflateNegotiateTest, PlainOffer) {
  std::string response;
  auto p = negotiateDeflate("permessage-deflate", &response);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(response, "permessage-deflate");
  EXPECT_FALSE(p->server_no_context_takeover);
  EXPECT_FALSE(p->client_no_context_takeover);
  EXPECT_EQ(p->server_max_window_bits, 15);
  EXPECT_EQ(p->client_max_window_bits, 15);
}

TEST(WsDeflateNegotiateTest, ClientMaxWindowBitsWithoutValue) {
  std::string response;
  auto p = negotiateDeflate("permessage-deflate; client_max_window_bits", &response);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(response, "permessage-deflate");
  EXPECT_EQ(p->client_max_window_bits, 15);
}

TEST(WsDeflateNegotiateTest, ClientMaxWindowBitsWithValueIsEchoed) {
  std::string response;
  auto p = negotiateDeflate("permessage-deflate; client_max_window_bits=10", &response);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(response, "permessage-deflate; client_max_window_bits=10");
  EXPECT_EQ(p->client_max_window_bits, 10);
}

TEST(WsDeflateNegotiateTest, ServerMaxWindowBitsAgreed) {
  std::string response;
  auto p = negotiateDeflate("permessage-deflate; server_max_window_bits=10", &response);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->server_max_window_bits, 10);
  EXPECT_EQ(response, "permessage-deflate; server_max_window_bits=10");
}

TEST(WsDeflateNegotiateTest, ServerMaxWindowBitsEightIsAccepted) {
  std::string response;
  auto p = negotiateDeflate(
      "permessage-deflate; client_no_context_takeover; client_max_window_bits; "
      "server_max_window_bits=8",
      &response);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->server_max_window_bits, 8);
  EXPECT_EQ(response,
            "permessage-deflate; client_no_context_takeover; server_max_window_bits=8");
}

TEST(WsDeflateNegotiateTest, NoContextTakeoverParams) {
  std::string response;
  auto p = negotiateDeflate(
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover", &response);
  ASSERT_TRUE(p.has_value());
  EXPECT_TRUE(p->server_no_context_takeover);
  EXPECT_TRUE(p->client_no_context_takeover);
  EXPECT_EQ(response,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
}

TEST(WsDeflateNegotiateTest, QuotedValue) {
  std::string response;
  auto p = negotiateDeflate("permessage-deflate; server_max_window_bits=\"12\"", &response);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->server_max_window_bits, 12);
  EXPECT_EQ(response, "permessage-deflate; server_max_window_bits=12");
}

TEST(WsDeflateNegotiateTest, InvalidWindowBitsDeclined) {
  for (const char* h : {"permessage-deflate; server_max_window_bits=7",
                        "permessage-deflate; server_max_window_bits=16",
                        "permessage-deflate; server_max_window_bits=010",
                        "permessage-deflate; server_max_window_bits=1a",
                        "permessage-deflate; server_max_window_bits",
                        "permessage-deflate; server_max_window_bits=",
                        "permessage-deflate; client_max_window_bits=7",
                        "permessage-deflate; client_max_window_bits=\"16\""}) {
    std::string response = "unchanged";
    EXPECT_FALSE(negotiateDeflate(h, &response).has_value()) << h;
    EXPECT_EQ(response, "unchanged");
  }
}

TEST(WsDeflateNegotiateTest, DuplicateParamDeclined) {
  std::string response;
  EXPECT_FALSE(negotiateDeflate(
      "permessage-deflate; server_no_context_takeover; server_no_context_takeover", &response));
  EXPECT_FALSE(negotiateDeflate(
      "permessage-deflate; client_max_window_bits; client_max_window_bits=9", &response));
  EXPECT_FALSE(negotiateDeflate(
      "permessage-deflate; server_max_window_bits=9; server_max_window_bits=9", &response));
}

TEST(WsDeflateNegotiateTest, UnknownParamOrValueOnFlagDeclined) {
  std::string response;
  EXPECT_FALSE(negotiateDeflate("permessage-deflate; foo", &response));
  EXPECT_FALSE(negotiateDeflate("permessage-deflate; server_no_context_takeover=1", &response));
  EXPECT_FALSE(negotiateDeflate("permessage-deflate; client_no_context_takeover=x", &response));
}

TEST(WsDeflateNegotiateTest, FallsBackToNextOffer) {
  std::string response;
  auto p = negotiateDeflate(
      "permessage-deflate; server_max_window_bits=7, permessage-deflate; "
      "server_no_context_takeover, permessage-deflate",
      &response);
  ASSERT_TRUE(p.has_value());
  EXPECT_TRUE(p->server_no_context_takeover);
  EXPECT_EQ(response, "permessage-deflate; server_no_context_takeover");
}

TEST(WsDeflateNegotiateTest, SkipsOtherExtensions) {
  std::string response;
  auto p = negotiateDeflate(
      "x-webkit-deflate-frame, foo; bar=\"a,b;c\", permessage-deflate; client_max_window_bits",
      &response);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(response, "permessage-deflate");
}

TEST(WsDeflateNegotiateTest, CaseAndWhitespaceTolerated) {
  std::string response;
  auto p = negotiateDeflate("  Permessage-Deflate ;\tServer_No_Context_Takeover  ", &response);
  ASSERT_TRUE(p.has_value());
  EXPECT_TRUE(p->server_no_context_takeover);
}

TEST(WsDeflateNegotiateTest, NothingAcceptable) {
  std::string response;
  EXPECT_FALSE(negotiateDeflate("", &response));
  EXPECT_FALSE(negotiateDeflate("x-webkit-deflate-frame", &response));
  EXPECT_FALSE(negotiateDeflate(",,;;==\"", &response));
  EXPECT_FALSE(negotiateDeflate("permessage-deflate; server_max_window_bits=\"10", &response));
  EXPECT_FALSE(negotiateDeflate("permessage-deflate x", &response));
}

TEST(WsDeflateNegotiateTest, NullResponseAllowed) {
  EXPECT_TRUE(negotiateDeflate("permessage-deflate", nullptr).has_value());
}

// ---------------------------------------------------------------------------
// Inflater and Deflater

TEST(WsInflaterTest, Rfc7692HelloExample) {
  Inflater inf(DeflateParams{});
  std::string out;
  ASSERT_EQ(inflateMessage(inf, bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), &out),
            InflateStatus::kOk);
  EXPECT_EQ(out, "Hello");
}

TEST(WsInflaterTest, Rfc7692SharedWindowExample) {
  // Section 7.2.3.2: the second "Hello" refers back into the first message.
  Inflater inf(DeflateParams{});
  std::string out;
  ASSERT_EQ(inflateMessage(inf, bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), &out),
            InflateStatus::kOk);
  out.clear();
  ASSERT_EQ(inflateMessage(inf, bytes({0xf2, 0x00, 0x11, 0x00, 0x00}), &out),
            InflateStatus::kOk);
  EXPECT_EQ(out, "Hello");
}

TEST(WsInflaterTest, Rfc7692BfinalExample) {
  // Section 7.2.3.4 (BFINAL set): f3 48 cd c9 c9 07 00 decodes to "Hello".
  Inflater inf(DeflateParams{});
  std::string out;
  ASSERT_EQ(inflateMessage(inf, bytes({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), &out),
            InflateStatus::kOk);
  EXPECT_EQ(out, "Hello");
  out.clear();  // the stream goes on after a final block
  ASSERT_EQ(inflateMessage(inf, bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), &out),
            InflateStatus::kOk);
  EXPECT_EQ(out, "Hello");
}

TEST(WsInflaterTest, PiecesGiveTheSameResult) {
  Deflater def(DeflateParams{});
  std::string text = sampleText(20000, 1);
  std::string wire;
  ASSERT_TRUE(def.deflate(text, &wire));
  Inflater inf(DeflateParams{});
  std::string out;
  for (size_t i = 0; i < wire.size(); i += 7) {
    ASSERT_EQ(inf.inflate(std::string_view(wire).substr(i, 7), &out, 1 << 20),
              InflateStatus::kOk);
  }
  ASSERT_EQ(inf.finish(&out, 1 << 20), InflateStatus::kOk);
  EXPECT_EQ(out, text);
}

TEST(WsInflaterTest, OutputIsBounded) {
  Deflater def(DeflateParams{});
  std::string bomb;
  ASSERT_TRUE(def.deflate(std::string(4 << 20, 'a'), &bomb));
  ASSERT_LT(bomb.size(), 8192u);
  Inflater inf(DeflateParams{});
  std::string out;
  EXPECT_EQ(inf.inflate(bomb, &out, 65536), InflateStatus::kTooLarge);
  EXPECT_LE(out.size(), 65537u);
}

TEST(WsInflaterTest, ExactLimitIsAllowed) {
  Deflater def(DeflateParams{});
  std::string wire;
  ASSERT_TRUE(def.deflate(std::string(1000, 'z'), &wire));
  Inflater inf(DeflateParams{});
  std::string out;
  EXPECT_EQ(inflateMessage(inf, wire, &out, 1000), InflateStatus::kOk);
  EXPECT_EQ(out.size(), 1000u);
  Inflater inf2(DeflateParams{});
  out.clear();
  EXPECT_EQ(inflateMessage(inf2, wire, &out, 999), InflateStatus::kTooLarge);
}

TEST(WsInflaterTest, CorruptDataIsAnError) {
  Inflater inf(DeflateParams{});
  std::string out;
  // BTYPE 11 is reserved.
  EXPECT_EQ(inflateMessage(inf, bytes({0xff, 0xff, 0xff, 0xff}), &out),
            InflateStatus::kError);
}

TEST(WsInflaterTest, TruncatedMessageIsAnError) {
  Deflater def(DeflateParams{});
  std::string wire;
  ASSERT_TRUE(def.deflate(sampleText(5000, 2), &wire));
  Inflater inf(DeflateParams{});
  std::string out;
  EXPECT_EQ(inflateMessage(inf, std::string_view(wire).substr(0, wire.size() / 2), &out),
            InflateStatus::kError);
}

TEST(WsInflaterTest, EmptyMessage) {
  Deflater def(DeflateParams{});
  std::string wire;
  ASSERT_TRUE(def.deflate("", &wire));
  EXPECT_EQ(wire, std::string(1, '\0'));
  Inflater inf(DeflateParams{});
  std::string out;
  EXPECT_EQ(inflateMessage(inf, wire, &out), InflateStatus::kOk);
  EXPECT_EQ(out, "");
  // Nothing at all (a zero-length compressed frame) is an empty message too.
  EXPECT_EQ(inflateMessage(inf, "", &out), InflateStatus::kOk);
  EXPECT_EQ(out, "");
}

TEST(WsDeflaterTest, RoundTripWithContextTakeover) {
  Deflater def(DeflateParams{});
  Inflater inf(DeflateParams{});
  std::string msg = sampleText(3000, 3);
  size_t first_size = 0;
  for (int i = 0; i < 5; ++i) {
    std::string wire;
    ASSERT_TRUE(def.deflate(msg, &wire));
    if (i == 0) first_size = wire.size();
    if (i > 0) {
      EXPECT_LT(wire.size(), first_size / 4) << "window reused";
    }
    std::string out;
    ASSERT_EQ(inflateMessage(inf, wire, &out), InflateStatus::kOk);
    EXPECT_EQ(out, msg);
  }
}

TEST(WsDeflaterTest, ServerNoContextTakeoverResetsEachMessage) {
  DeflateParams params;
  params.server_no_context_takeover = true;
  Deflater def(params);
  std::string msg = sampleText(3000, 4);
  std::string a, b;
  ASSERT_TRUE(def.deflate(msg, &a));
  ASSERT_TRUE(def.deflate(msg, &b));
  EXPECT_EQ(a, b);
  Inflater fresh(DeflateParams{});
  std::string out;
  ASSERT_EQ(inflateMessage(fresh, b, &out), InflateStatus::kOk);
  EXPECT_EQ(out, msg);
}

TEST(WsDeflaterTest, AppendsWithoutTail) {
  Deflater def(DeflateParams{});
  std::string out = "prefix";
  ASSERT_TRUE(def.deflate("Hello", &out));
  EXPECT_EQ(out.substr(0, 6), "prefix");
  EXPECT_EQ(out.substr(6), bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}));
}

TEST(WsDeflaterTest, IncompressibleLargeMessage) {
  Deflater def(DeflateParams{});
  Inflater inf(DeflateParams{});
  std::string msg = randomBytes(1 << 20, 5);
  std::string wire;
  ASSERT_TRUE(def.deflate(msg, &wire));
  std::string out;
  ASSERT_EQ(inflateMessage(inf, wire, &out, 2 << 20), InflateStatus::kOk);
  EXPECT_EQ(out, msg);
}

// The client's inflater may have an 8-bit window when it asked for
// server_max_window_bits=8; our 9-bit zlib stream must fit in it.
TEST(WsDeflaterTest, EightBitWindowStreamFitsAnEightBitInflater) {
  DeflateParams params;
  params.server_max_window_bits = 8;
  Deflater def(params);
  z_stream z{};
  ASSERT_EQ(inflateInit2(&z, -8), Z_OK);
  for (int i = 0; i < 20; ++i) {
    std::string msg = sampleText(4000 + i * 100, 10 + i);
    std::string wire;
    ASSERT_TRUE(def.deflate(msg, &wire));
    wire += bytes({0x00, 0x00, 0xff, 0xff});
    std::string out(msg.size() + 64, '\0');
    z.next_in = reinterpret_cast<Bytef*>(wire.data());
    z.avail_in = static_cast<uInt>(wire.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    int ret = inflate(&z, Z_SYNC_FLUSH);
    ASSERT_TRUE(ret == Z_OK || ret == Z_BUF_ERROR) << ret << " " << (z.msg ? z.msg : "");
    ASSERT_EQ(z.avail_in, 0u);
    out.resize(out.size() - z.avail_out);
    ASSERT_EQ(out, msg) << i;
  }
  inflateEnd(&z);
}

TEST(WsInflaterTest, ClientNoContextTakeoverInflatesIndependentMessages) {
  DeflateParams params;
  params.client_no_context_takeover = true;
  Inflater inf(params);
  for (int i = 0; i < 3; ++i) {
    DeflateParams sender;
    sender.server_no_context_takeover = true;
    Deflater def(sender);
    std::string msg = sampleText(1000, 20 + i);
    std::string wire;
    ASSERT_TRUE(def.deflate(msg, &wire));
    std::string out;
    ASSERT_EQ(inflateMessage(inf, wire, &out), InflateStatus::kOk);
    EXPECT_EQ(out, msg);
  }
}

}  // namespace
}  // namespace herald::ws
