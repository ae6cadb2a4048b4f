#include "auth/base64url.h"

#include <array>
#include <cstdint>

namespace herald::auth {
namespace {

constexpr char kAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr uint8_t kInvalid = 0xFF;

constexpr std::array<uint8_t, 256> makeDecodeTable() {
  std::array<uint8_t, 256> table{};
  for (auto& v : table) v = kInvalid;
  for (uint8_t i = 0; i < 64; ++i) {
    table[static_cast<uint8_t>(kAlphabet[i])] = i;
  }
  return table;
}

constexpr std::array<uint8_t, 256> kDecode = makeDecodeTable();

}  // namespace

std::string base64UrlEncode(std::string_view data) {
  const size_t n = data.size();
  std::string out((n * 4 + 2) / 3, '\0');
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  char* o = out.data();
  size_t i = 0;
  for (; i + 3 <= n; i += 3, o += 4) {
    uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8) | p[i + 2];
    o[0] = kAlphabet[(v >> 18) & 63];
    o[1] = kAlphabet[(v >> 12) & 63];
    o[2] = kAlphabet[(v >> 6) & 63];
    o[3] = kAlphabet[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = uint32_t{p[i]} << 16;
    o[0] = kAlphabet[(v >> 18) & 63];
    o[1] = kAlphabet[(v >> 12) & 63];
  } else if (n - i == 2) {
    uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8);
    o[0] = kAlphabet[(v >> 18) & 63];
    o[1] = kAlphabet[(v >> 12) & 63];
    o[2] = kAlphabet[(v >> 6) & 63];
  }
  return out;
}

bool base64UrlDecode(std::string_view in, std::string* out) {
  const size_t n = in.size();
  const size_t tail = n % 4;
  if (tail == 1) return false;  // one character carries only 6 bits
  out->resize(n / 4 * 3 + (tail == 0 ? 0 : tail - 1));
  const auto* p = reinterpret_cast<const uint8_t*>(in.data());
  auto* o = reinterpret_cast<uint8_t*>(out->data());
  size_t i = 0;
  for (; i + 4 <= n; i += 4, o += 3) {
    uint8_t a = kDecode[p[i]], b = kDecode[p[i + 1]], c = kDecode[p[i + 2]],
            d = kDecode[p[i + 3]];
    if ((a | b | c | d) & 0xC0) return false;  // kInvalid has the top bits set
    uint32_t v = (uint32_t{a} << 18) | (uint32_t{b} << 12) | (uint32_t{c} << 6) | d;
    o[0] = static_cast<uint8_t>(v >> 16);
    o[1] = static_cast<uint8_t>(v >> 8);
    o[2] = static_cast<uint8_t>(v);
  }
  if (tail == 2) {
    uint8_t a = kDecode[p[i]], b = kDecode[p[i + 1]];
    if (((a | b) & 0xC0) || (b & 0x0F)) return false;  // 4 unused bits must be 0
    o[0] = static_cast<uint8_t>((a << 2) | (b >> 4));
  } else if (tail == 3) {
    uint8_t a = kDecode[p[i]], b = kDecode[p[i + 1]], c = kDecode[p[i + 2]];
    if (((a | b | c) & 0xC0) || (c & 0x03)) return false;  // 2 unused bits must be 0
    uint32_t v = (uint32_t{a} << 18) | (uint32_t{b} << 12) | (uint32_t{c} << 6);
    o[0] = static_cast<uint8_t>(v >> 16);
    o[1] = static_cast<uint8_t>(v >> 8);
  }
  return true;
}

}  // namespace herald::auth
