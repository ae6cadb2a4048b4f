#include "protocol/json_writer.h"

#include <array>
#include <charconv>
#include <cstring>

namespace herald::protocol {
namespace {

constexpr std::array<bool, 256> kNeedsEscape = [] {
  std::array<bool, 256> table{};
  for (int c = 0; c < 0x20; ++c) table[c] = true;
  table['"'] = true;
  table['\\'] = true;
  return table;
}();

constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighBits = 0x8080808080808080ULL;

// True if any byte of the word is zero. Exact as an "any" test: a borrow can
// only produce a false positive above a byte that really is zero.
constexpr bool hasZeroByte(uint64_t w) { return ((w - kOnes) & ~w & kHighBits) != 0; }

// True if any byte of the word needs escaping: below 0x20, '"' or '\\'.
// The "below n" test is exact for n <= 0x80, for the same reason as above.
constexpr bool blockNeedsEscape(uint64_t w) {
  const bool control = ((w - kOnes * 0x20) & ~w & kHighBits) != 0;
  return control || hasZeroByte(w ^ (kOnes * '"')) || hasZeroByte(w ^ (kOnes * '\\'));
}

// First byte in [p, end) that needs escaping, or end. Clean text (the common
// case) is skipped eight bytes at a time.
const char* findEscape(const char* p, const char* end) {
  while (end - p >= 8) {
    uint64_t w;
    std::memcpy(&w, p, sizeof w);
    if (blockNeedsEscape(w)) break;
    p += 8;
  }
  while (p < end && !kNeedsEscape[static_cast<unsigned char>(*p)]) ++p;
  return p;
}

void appendEscape(std::string* out, unsigned char c) {
  switch (c) {
    case '"': out->append("\\\"", 2); return;
    case '\\': out->append("\\\\", 2); return;
    case '\b': out->append("\\b", 2); return;
    case '\f': out->append("\\f", 2); return;
    case '\n': out->append("\\n", 2); return;
    case '\r': out->append("\\r", 2); return;
    case '\t': out->append("\\t", 2); return;
    default: break;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
  out->append(esc, sizeof esc);
}

template <typename Int>
void appendInteger(std::string* out, Int v) {
  char buf[24];  // 20 digits and a sign at most
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, static_cast<size_t>(res.ptr - buf));
}

}  // namespace

void appendEscaped(std::string* out, std::string_view s) {
  const char* p = s.data();
  const char* const end = p + s.size();
  while (p < end) {
    const char* q = findEscape(p, end);
    out->append(p, static_cast<size_t>(q - p));
    if (q == end) break;
    appendEscape(out, static_cast<unsigned char>(*q));
    p = q + 1;
  }
}

JsonWriter& JsonWriter::string(std::string_view s) {
  out_->push_back('"');
  appendEscaped(out_, s);
  out_->push_back('"');
  return *this;
}

JsonWriter& JsonWriter::number(int64_t v) {
  appendInteger(out_, v);
  return *this;
}

JsonWriter& JsonWriter::number(uint64_t v) {
  appendInteger(out_, v);
  return *this;
}

JsonWriter& JsonWriter::key(std::string_view k, bool first) {
  if (!first) out_->push_back(',');
  out_->push_back('"');
  out_->append(k);
  out_->append("\":", 2);
  return *this;
}

}  // namespace herald::protocol
