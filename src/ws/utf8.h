// Incremental UTF-8 validation (RFC 3629: no overlongs, no surrogates, nothing
// above U+10FFFF). The validator can be fed a message in pieces split at any
// byte and reports an error as soon as the bytes seen cannot start valid
// UTF-8, so a bad text message fails fast. Small value type; not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace herald::ws {

class Utf8Validator {
 public:
  // Feeds more bytes; false once the input is invalid (and stays false).
  bool feed(const uint8_t* data, size_t len);
  bool feed(std::string_view s) {
    return feed(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
  // True when everything fed so far is complete, valid UTF-8 (no code point
  // cut in the middle).
  bool complete() const { return state_ == 0; }
  void reset() { state_ = 0; }

 private:
  uint32_t state_ = 0;  // 0 = accept; 1 = reject; other = inside a sequence
};

// One-shot check of a whole string.
bool isValidUtf8(std::string_view s);

}  // namespace herald::ws
