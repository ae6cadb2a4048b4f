// UTF-8 validation with a byte-class DFA (RFC 3629, section 4 grammar).
//
// Every byte maps to one of 12 classes; the automaton has 9 states. A state
// other than kAccept and kReject means "inside a sequence, expecting these
// continuation bytes". The grammar's special second-byte ranges (E0 A0-BF,
// ED 80-9F, F0 90-BF, F4 80-8F) get their own states, which is what rejects
// overlongs, surrogates and code points above U+10FFFF at the first byte
// that makes them so. Runs of ASCII in the accept state are skipped 8 bytes
// at a time.
#include "ws/utf8.h"

#include <array>
#include <cstring>

namespace herald::ws {
namespace {

// Byte classes.
constexpr uint8_t kAscii = 0;   // 00-7F
constexpr uint8_t kCont1 = 1;   // 80-8F
constexpr uint8_t kCont2 = 2;   // 90-9F
constexpr uint8_t kCont3 = 3;   // A0-BF
constexpr uint8_t kBad = 4;     // C0-C1 (overlong 2-byte), F5-FF (above U+10FFFF)
constexpr uint8_t kLead2 = 5;   // C2-DF
constexpr uint8_t kE0 = 6;      // E0: second byte A0-BF (else overlong)
constexpr uint8_t kLead3 = 7;   // E1-EC, EE-EF
constexpr uint8_t kED = 8;      // ED: second byte 80-9F (else surrogate)
constexpr uint8_t kF0 = 9;      // F0: second byte 90-BF (else overlong)
constexpr uint8_t kLead4 = 10;  // F1-F3
constexpr uint8_t kF4 = 11;     // F4: second byte 80-8F (else above U+10FFFF)
constexpr size_t kNumClasses = 12;

// States. kAccept and kReject match the values documented in utf8.h.
constexpr uint8_t kAccept = 0;
constexpr uint8_t kReject = 1;
constexpr uint8_t kNeed1 = 2;    // one continuation byte (80-BF) left
constexpr uint8_t kNeed2 = 3;    // two continuation bytes left
constexpr uint8_t kAfterE0 = 4;  // A0-BF, then one more
constexpr uint8_t kAfterED = 5;  // 80-9F, then one more
constexpr uint8_t kNeed3 = 6;    // three continuation bytes left
constexpr uint8_t kAfterF0 = 7;  // 90-BF, then two more
constexpr uint8_t kAfterF4 = 8;  // 80-8F, then two more
constexpr size_t kNumStates = 9;

constexpr std::array<uint8_t, 256> makeClasses() {
  std::array<uint8_t, 256> c{};
  for (int b = 0; b < 256; ++b) {
    uint8_t k = kBad;
    if (b < 0x80) k = kAscii;
    else if (b < 0x90) k = kCont1;
    else if (b < 0xA0) k = kCont2;
    else if (b < 0xC0) k = kCont3;
    else if (b < 0xC2) k = kBad;
    else if (b < 0xE0) k = kLead2;
    else if (b == 0xE0) k = kE0;
    else if (b == 0xED) k = kED;
    else if (b < 0xF0) k = kLead3;
    else if (b == 0xF0) k = kF0;
    else if (b < 0xF4) k = kLead4;
    else if (b == 0xF4) k = kF4;
    c[b] = k;
  }
  return c;
}

constexpr std::array<uint8_t, kNumStates * kNumClasses> makeTransitions() {
  std::array<uint8_t, kNumStates * kNumClasses> t{};
  for (auto& s : t) s = kReject;
  auto set = [&t](uint8_t state, uint8_t cls, uint8_t next) {
    t[state * kNumClasses + cls] = next;
  };
  set(kAccept, kAscii, kAccept);
  set(kAccept, kLead2, kNeed1);
  set(kAccept, kE0, kAfterE0);
  set(kAccept, kLead3, kNeed2);
  set(kAccept, kED, kAfterED);
  set(kAccept, kF0, kAfterF0);
  set(kAccept, kLead4, kNeed3);
  set(kAccept, kF4, kAfterF4);
  for (uint8_t cont : {kCont1, kCont2, kCont3}) {
    set(kNeed1, cont, kAccept);
    set(kNeed2, cont, kNeed1);
    set(kNeed3, cont, kNeed2);
  }
  set(kAfterE0, kCont3, kNeed1);
  set(kAfterED, kCont1, kNeed1);
  set(kAfterED, kCont2, kNeed1);
  set(kAfterF0, kCont2, kNeed2);
  set(kAfterF0, kCont3, kNeed2);
  set(kAfterF4, kCont1, kNeed2);
  return t;
}

constexpr std::array<uint8_t, 256> kClasses = makeClasses();
constexpr std::array<uint8_t, kNumStates * kNumClasses> kTransitions = makeTransitions();

constexpr uint64_t kHighBits = 0x8080808080808080ull;

}  // namespace

bool Utf8Validator::feed(const uint8_t* data, size_t len) {
  uint32_t state = state_;
  if (state == kReject) return false;
  const uint8_t* p = data;
  const uint8_t* const end = data + len;
  while (p < end) {
    if (state == kAccept) {
      // ASCII fast path: skip whole words without a high bit set.
      while (end - p >= 8) {
        uint64_t word;
        std::memcpy(&word, p, 8);
        if (word & kHighBits) break;
        p += 8;
      }
      while (p < end && *p < 0x80) ++p;
      if (p == end) break;
    }
    state = kTransitions[state * kNumClasses + kClasses[*p++]];
    if (state == kReject) break;
  }
  state_ = state;
  return state != kReject;
}

bool isValidUtf8(std::string_view s) {
  Utf8Validator v;
  return v.feed(s) && v.complete();
}

}  // namespace herald::ws
