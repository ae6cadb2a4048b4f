// libFuzzer target for the WebSocket read path (ws::MessageParser with and
// without permessage-deflate).
//
// Input: byte 0 picks the configuration, the rest is the client's byte
// stream.
//   bit 0     permessage-deflate on
//   bit 1     client_no_context_takeover (when deflate is on)
//   bits 2-3  how the stream is cut into feed() calls: whole, every byte,
//             pseudo-random sizes, 7-byte pieces
//   bit 4     structured: the rest describes frames (see buildFrames) that
//             the target masks, and compresses when asked, so the fuzzer
//             reaches deep states without having to learn masking and
//             deflate
// Checks: no crash or sanitizer report; bufferedBytes() stays within the
// limit plus a partial header and a control frame; delivered text is valid
// UTF-8 and within the limit; the events seen are the same whether the
// stream arrives whole or cut up.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "ws/deflate.h"
#include "ws/message_parser.h"
#include "ws/utf8.h"

namespace {

using herald::ws::DeflateParams;
using herald::ws::Deflater;
using herald::ws::MessageHandler;
using herald::ws::MessageParser;
using herald::ws::Opcode;

constexpr size_t kMaxMessage = 64 * 1024;
constexpr size_t kSlack = 14 + 125;  // partial header + partial control frame

void check(bool ok) {
  if (!ok) std::abort();
}

// Records events as one string so two runs can be compared.
struct Recorder : MessageHandler {
  std::string log;
  bool closed = false;

  void onMessage(Opcode opcode, std::string_view payload) override {
    check(!closed);
    check(payload.size() <= kMaxMessage);
    check(opcode == Opcode::kText || opcode == Opcode::kBinary);
    if (opcode == Opcode::kText) check(herald::ws::isValidUtf8(payload));
    log += opcode == Opcode::kText ? 'T' : 'B';
    log += std::to_string(payload.size()) + ':';
    log.append(payload);
  }
  void onPing(std::string_view payload) override {
    check(!closed && payload.size() <= 125);
    log += 'I';
    log.append(payload);
  }
  void onPong(std::string_view payload) override {
    check(!closed && payload.size() <= 125);
    log += 'O';
    log.append(payload);
  }
  void onClose(uint16_t code, std::string_view reason) override {
    check(!closed);
    check(code == 1005 || herald::ws::isValidCloseCode(code));
    check(herald::ws::isValidUtf8(reason));
    closed = true;
    log += 'C' + std::to_string(code);
  }
};

// Structured input: repeated [b0][len][key][payload...].
//   b0   first header byte as sent (FIN, RSV, opcode); when RSV1 is set and
//        deflate is on, the payload is compressed by a real Deflater
//   len  payload size: low 7 bits, times 97 when bit 7 is set
//   key  0: frame sent unmasked; else the mask key is derived from it
std::string buildFrames(const uint8_t* data, size_t size, bool deflate) {
  std::string out;
  Deflater deflater{DeflateParams{}};
  size_t i = 0;
  while (i + 3 <= size) {
    uint8_t b0 = data[i], len_byte = data[i + 1], key_byte = data[i + 2];
    i += 3;
    size_t len = (len_byte & 0x7F) * ((len_byte & 0x80) ? 97 : 1);
    std::string payload;
    for (size_t k = 0; k < len; ++k) {
      payload.push_back(i < size ? static_cast<char>(data[i++]) : static_cast<char>('a' + k % 26));
    }
    if (deflate && (b0 & 0x40) && (b0 & 0x0F) != 0) {
      std::string compressed;
      if (deflater.deflate(payload, &compressed)) payload.swap(compressed);
    }
    out.push_back(static_cast<char>(b0));
    const uint8_t mask_bit = key_byte != 0 ? 0x80 : 0;
    if (payload.size() < 126) {
      out.push_back(static_cast<char>(mask_bit | payload.size()));
    } else if (payload.size() <= 0xFFFF) {
      out.push_back(static_cast<char>(mask_bit | 126));
      out.push_back(static_cast<char>(payload.size() >> 8));
      out.push_back(static_cast<char>(payload.size()));
    } else {
      out.push_back(static_cast<char>(mask_bit | 127));
      for (int s = 56; s >= 0; s -= 8) out.push_back(static_cast<char>(uint64_t{payload.size()} >> s));
    }
    uint8_t key[4] = {key_byte, static_cast<uint8_t>(key_byte * 7), static_cast<uint8_t>(~key_byte),
                      static_cast<uint8_t>(key_byte ^ 0x5A)};
    if (mask_bit) out.append(reinterpret_cast<const char*>(key), 4);
    for (size_t k = 0; k < payload.size(); ++k) {
      out.push_back(static_cast<char>(payload[k] ^ (mask_bit ? key[k & 3] : 0)));
    }
  }
  return out;
}

struct Run {
  std::string log;
  bool failed = false;
};

Run run(const std::string& stream, const DeflateParams* deflate, int split, uint32_t seed) {
  MessageParser parser(kMaxMessage);
  if (deflate) parser.enableDeflate(*deflate);
  Recorder rec;
  std::string buf = stream;  // the parser unmasks in place
  size_t pos = 0;
  uint32_t rng = seed | 1;
  Run result;
  while (pos < buf.size()) {
    size_t n = buf.size() - pos;
    if (split == 1) {
      n = 1;
    } else if (split == 2) {
      rng = rng * 1103515245u + 12345u;
      n = 1 + (rng >> 16) % 300;
    } else if (split == 3) {
      n = 7;
    }
    n = std::min(n, buf.size() - pos);
    uint16_t rc = parser.feed(buf.data() + pos, n, rec);
    pos += n;
    check(parser.bufferedBytes() <= kMaxMessage + kSlack);
    if (rc != 0) {
      check(rc == 1002 || rc == 1007 || rc == 1009);
      check(!rec.closed);
      result.failed = true;
      break;
    }
    if (rec.closed) {
      check(parser.bufferedBytes() == 0);
      break;
    }
  }
  result.log = std::move(rec.log);
  return result;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t config = data[0];
  const bool deflate = config & 1;
  DeflateParams params;
  params.client_no_context_takeover = (config & 2) != 0;
  const int split = (config >> 2) & 3;
  std::string stream = (config & 0x10)
                           ? buildFrames(data + 1, size - 1, deflate)
                           : std::string(reinterpret_cast<const char*>(data + 1), size - 1);
  if (stream.size() > (1 << 20)) return 0;

  Run whole = run(stream, deflate ? &params : nullptr, 0, 0);
  if (split != 0) {
    Run cut = run(stream, deflate ? &params : nullptr, split, static_cast<uint32_t>(size));
    check(cut.log == whole.log);
    check(cut.failed == whole.failed);
  }
  return 0;
}
