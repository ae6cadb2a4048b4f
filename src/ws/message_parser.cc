// The WebSocket read path: frame headers, unmasking, reassembly, inflation
// and UTF-8 validation, in one pass over each chunk of input.
//
// Fast path: a whole unfragmented frame inside the chunk (the usual case)
// is unmasked in place and handed to the handler as a view of the chunk;
// nothing is allocated. Only a frame split across reads, or a fragmented
// message, allocates State, and State is freed again as soon as nothing is
// held between calls, so an idle connection costs one null pointer here.
//
// Close codes chosen where the RFCs leave it open:
//  - corrupt compressed data (zlib reports an error, or a message does not
//    end on a block boundary after the 00 00 ff ff tail) -> 1007: RFC 7692
//    only says "fail the connection", and 1007 is RFC 6455's code for data
//    inconsistent with the message type;
//  - compressed messages are bounded twice: inflated size against
//    max_message_bytes (1009 while inflating), and compressed size against
//    max_message_bytes + 1/8 + 1 KiB (1009 from the frame header), which no
//    sane compressor exceeds for a message within the limit; without it a
//    peer could stream endless empty deflate blocks into one message.
#include "ws/message_parser.h"

#include <algorithm>
#include <cstring>

namespace herald::ws {
namespace {

constexpr size_t kMaxClientHeader = 14;  // 2 + 8 (length) + 4 (mask key)
constexpr size_t kMaxControlPayload = 125;
// Single-frame compressed messages inflate into one buffer per thread (the
// worker's), kept between messages only up to this capacity. The payload
// handed to onMessage points into it, so a handler must not feed another
// parser on the same thread from inside onMessage.
constexpr size_t kScratchKeepBytes = 64 * 1024;

// XORs `n` bytes with the mask key, starting `offset` bytes into the key.
inline void unmask(uint8_t* p, size_t n, const uint8_t key[4], size_t offset) {
  uint8_t k[8];
  for (size_t i = 0; i < 8; ++i) k[i] = key[(offset + i) & 3];
  uint64_t k64;
  std::memcpy(&k64, k, 8);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    w ^= k64;
    std::memcpy(p + i, &w, 8);
  }
  for (; i < n; ++i) p[i] ^= k[i & 7];
}

std::string& inflateScratch() {
  thread_local std::string scratch;
  return scratch;
}

uint16_t closeCodeFor(InflateStatus status) {
  switch (status) {
    case InflateStatus::kOk: return 0;
    case InflateStatus::kTooLarge: return kCloseMessageTooBig;
    case InflateStatus::kError: return kCloseInvalidPayload;
  }
  return kCloseInvalidPayload;
}

}  // namespace

struct MessageParser::FrameHeader {
  uint8_t opcode = 0;
  bool fin = false;
  bool rsv1 = false;
  uint8_t mask[4] = {};
  uint64_t length = 0;
};

struct MessageParser::State {
  // A frame header split across reads.
  uint8_t header[kMaxClientHeader];
  uint8_t header_len = 0;

  // The frame whose payload is being read.
  bool in_frame = false;
  uint8_t frame_opcode = 0;
  bool frame_fin = false;
  uint8_t mask[4] = {};
  uint8_t mask_offset = 0;
  uint64_t remaining = 0;

  // Control frame payload so far (control frames never exceed 125 bytes).
  uint8_t control_len = 0;
  char control[kMaxControlPayload];

  // The data message in progress (possibly across fragments).
  bool in_message = false;
  uint8_t message_opcode = 0;
  bool compressed = false;
  uint64_t compressed_bytes = 0;  // announced so far, compressed messages
  Utf8Validator utf8;
  std::string message;  // unmasked, inflated payload so far
};

MessageParser::MessageParser(size_t max_message_bytes)
    : max_message_bytes_(max_message_bytes) {}

MessageParser::~MessageParser() = default;
MessageParser::MessageParser(MessageParser&&) noexcept = default;
MessageParser& MessageParser::operator=(MessageParser&&) noexcept = default;

void MessageParser::enableDeflate(const DeflateParams& params) {
  inflater_ = std::make_unique<Inflater>(params);
}

size_t MessageParser::bufferedBytes() const {
  if (!state_) return 0;
  return state_->header_len + state_->control_len + state_->message.size();
}

size_t MessageParser::compressedLimit() const {
  size_t slack = max_message_bytes_ / 8 + 1024;
  return max_message_bytes_ > SIZE_MAX - slack ? SIZE_MAX : max_message_bytes_ + slack;
}

MessageParser::State& MessageParser::ensureState() {
  if (!state_) state_ = std::make_unique<State>();
  return *state_;
}

// Returns the header size once `n` bytes hold a whole header, 0 when more
// bytes are needed, -1 (with *error set) on a violation. Checks run on the
// bytes available, so a bad frame fails before its header is complete.
int MessageParser::parseHeader(const uint8_t* p, size_t n, FrameHeader* h,
                               uint16_t* error) const {
  if (n < 2) return 0;
  const uint8_t b0 = p[0];
  const uint8_t b1 = p[1];
  const uint8_t opcode = b0 & 0x0F;
  const bool fin = (b0 & 0x80) != 0;
  const bool rsv1 = (b0 & 0x40) != 0;
  const uint8_t len7 = b1 & 0x7F;
  const bool in_message = state_ && state_->in_message;
  auto fail = [error](uint16_t code) {
    *error = code;
    return -1;
  };
  if (b0 & 0x30) return fail(kCloseProtocolError);  // RSV2, RSV3: never negotiated
  if (opcode >= 0x8) {
    if (opcode > 0xA || !fin || rsv1 || len7 > kMaxControlPayload) {
      return fail(kCloseProtocolError);
    }
  } else if (opcode == 0x0) {
    // RSV1 marks a compressed message on its first frame only.
    if (!in_message || rsv1) return fail(kCloseProtocolError);
  } else {
    if (opcode > 0x2 || in_message) return fail(kCloseProtocolError);
    if (rsv1 && !inflater_) return fail(kCloseProtocolError);
  }
  if ((b1 & 0x80) == 0) return fail(kCloseProtocolError);  // clients must mask
  const size_t ext = len7 == 126 ? 2 : (len7 == 127 ? 8 : 0);
  if (ext == 8 && n >= 3 && (p[2] & 0x80)) return fail(kCloseProtocolError);  // MSB
  const size_t size = 2 + ext + 4;
  if (n < size) return 0;

  // Non-minimal length encodings are allowed by RFC 6455 and accepted.
  uint64_t length = len7;
  if (ext != 0) {
    length = 0;
    for (size_t i = 0; i < ext; ++i) length = (length << 8) | p[2 + i];
  }
  if (opcode < 0x8) {
    const bool compressed = opcode == 0 ? state_->compressed : rsv1;
    if (compressed) {
      uint64_t so_far = opcode == 0 ? state_->compressed_bytes : 0;
      if (length > compressedLimit() - so_far) return fail(kCloseMessageTooBig);
    } else {
      uint64_t so_far = opcode == 0 ? state_->message.size() : 0;
      if (length > max_message_bytes_ - so_far) return fail(kCloseMessageTooBig);
    }
  }
  h->opcode = opcode;
  h->fin = fin;
  h->rsv1 = rsv1;
  h->length = length;
  std::memcpy(h->mask, p + 2 + ext, 4);
  return static_cast<int>(size);
}

uint16_t MessageParser::handleControl(uint8_t opcode, std::string_view payload,
                                      MessageHandler& handler) {
  switch (static_cast<Opcode>(opcode)) {
    case Opcode::kClose: {
      uint16_t code = kCloseNoStatus;
      std::string_view reason;
      if (payload.size() == 1) return kCloseProtocolError;
      if (payload.size() >= 2) {
        code = static_cast<uint16_t>((static_cast<uint8_t>(payload[0]) << 8) |
                                     static_cast<uint8_t>(payload[1]));
        if (!isValidCloseCode(code)) return kCloseProtocolError;
        reason = payload.substr(2);
        if (!isValidUtf8(reason)) return kCloseInvalidPayload;
      }
      closed_ = true;
      handler.onClose(code, reason);
      return 0;
    }
    case Opcode::kPing:
      handler.onPing(payload);
      return 0;
    case Opcode::kPong:
      handler.onPong(payload);
      return 0;
    default:
      return kCloseProtocolError;  // unreachable: parseHeader filters
  }
}

uint16_t MessageParser::deliverCompressed(Opcode opcode, std::string_view payload,
                                          MessageHandler& handler) {
  std::string& out = inflateScratch();
  out.clear();
  InflateStatus status = inflater_->inflate(payload, &out, max_message_bytes_);
  if (status == InflateStatus::kOk) status = inflater_->finish(&out, max_message_bytes_);
  uint16_t rc = closeCodeFor(status);
  if (rc == 0 && opcode == Opcode::kText && !isValidUtf8(out)) rc = kCloseInvalidPayload;
  if (rc == 0) handler.onMessage(opcode, out);
  if (out.capacity() > kScratchKeepBytes) std::string().swap(out);
  return rc;
}

uint16_t MessageParser::finishMessage(MessageHandler& handler) {
  State& s = *state_;
  const bool text = s.message_opcode == static_cast<uint8_t>(Opcode::kText);
  if (s.compressed) {
    size_t old = s.message.size();
    uint16_t rc = closeCodeFor(inflater_->finish(&s.message, max_message_bytes_));
    if (rc != 0) return rc;
    if (text && !s.utf8.feed(reinterpret_cast<const uint8_t*>(s.message.data()) + old,
                             s.message.size() - old)) {
      return kCloseInvalidPayload;
    }
  }
  if (text && !s.utf8.complete()) return kCloseInvalidPayload;
  s.in_message = false;
  // Moved out so the buffer is freed right after delivery.
  std::string message = std::move(s.message);
  s.message = std::string();
  handler.onMessage(static_cast<Opcode>(s.message_opcode), message);
  return 0;
}

uint16_t MessageParser::consumePayload(uint8_t* p, size_t avail, size_t* consumed,
                                       MessageHandler& handler) {
  State& s = *state_;
  const size_t n = static_cast<size_t>(std::min<uint64_t>(s.remaining, avail));
  unmask(p, n, s.mask, s.mask_offset);
  s.mask_offset = static_cast<uint8_t>((s.mask_offset + n) & 3);
  s.remaining -= n;
  *consumed = n;

  if (s.frame_opcode >= 0x8) {
    std::memcpy(s.control + s.control_len, p, n);
    s.control_len = static_cast<uint8_t>(s.control_len + n);
    if (s.remaining != 0) return 0;
    s.in_frame = false;
    std::string_view payload(s.control, s.control_len);
    s.control_len = 0;
    return handleControl(s.frame_opcode, payload, handler);
  }

  const bool text = s.message_opcode == static_cast<uint8_t>(Opcode::kText);
  if (n != 0) {
    if (s.compressed) {
      size_t old = s.message.size();
      std::string_view in(reinterpret_cast<const char*>(p), n);
      uint16_t rc = closeCodeFor(inflater_->inflate(in, &s.message, max_message_bytes_));
      if (rc != 0) return rc;
      if (text && !s.utf8.feed(reinterpret_cast<const uint8_t*>(s.message.data()) + old,
                               s.message.size() - old)) {
        return kCloseInvalidPayload;
      }
    } else {
      // Validated before it is kept: bad text fails with the first bad byte.
      if (text && !s.utf8.feed(p, n)) return kCloseInvalidPayload;
      s.message.append(reinterpret_cast<const char*>(p), n);
    }
  }
  if (s.remaining != 0) return 0;
  s.in_frame = false;
  return s.frame_fin ? finishMessage(handler) : 0;
}

uint16_t MessageParser::feed(char* data, size_t len, MessageHandler& handler) {
  if (closed_ || error_ != 0) return error_;
  uint8_t* const buf = reinterpret_cast<uint8_t*>(data);
  size_t pos = 0;
  uint16_t rc = 0;
  while (true) {
    if (state_ && state_->in_frame) {
      size_t consumed = 0;
      rc = consumePayload(buf + pos, len - pos, &consumed, handler);
      pos += consumed;
      if (rc != 0 || closed_ || state_->in_frame) break;
    }
    if (pos >= len) break;

    // Frame header: completed from the bytes held since the last call, or
    // read straight from the input.
    FrameHeader h;
    if (state_ && state_->header_len != 0) {
      State& s = *state_;
      const size_t held = s.header_len;
      const size_t take = std::min(kMaxClientHeader - held, len - pos);
      std::memcpy(s.header + held, buf + pos, take);
      const int size = parseHeader(s.header, held + take, &h, &rc);
      if (size < 0) break;
      if (size == 0) {  // still incomplete: everything taken is header
        s.header_len = static_cast<uint8_t>(held + take);
        pos += take;
        break;
      }
      pos += static_cast<size_t>(size) - held;
      s.header_len = 0;
    } else {
      const int size = parseHeader(buf + pos, len - pos, &h, &rc);
      if (size < 0) break;
      if (size == 0) {
        State& s = ensureState();
        s.header_len = static_cast<uint8_t>(len - pos);
        std::memcpy(s.header, buf + pos, len - pos);
        pos = len;
        break;
      }
      pos += static_cast<size_t>(size);
    }

    const size_t avail = len - pos;
    const bool in_message = state_ && state_->in_message;
    if (avail >= h.length && (h.opcode >= 0x8 || (h.fin && !in_message))) {
      // The whole frame is here, and it is a control frame or a whole
      // message: hand out a view of the input.
      const size_t n = static_cast<size_t>(h.length);
      unmask(buf + pos, n, h.mask, 0);
      std::string_view payload(data + pos, n);
      pos += n;
      if (h.opcode >= 0x8) {
        rc = handleControl(h.opcode, payload, handler);
      } else if (h.rsv1) {
        rc = deliverCompressed(static_cast<Opcode>(h.opcode), payload, handler);
      } else if (h.opcode == static_cast<uint8_t>(Opcode::kText) && !isValidUtf8(payload)) {
        rc = kCloseInvalidPayload;
      } else {
        handler.onMessage(static_cast<Opcode>(h.opcode), payload);
      }
      if (rc != 0 || closed_) break;
      continue;
    }

    State& s = ensureState();
    if (h.opcode != 0 && h.opcode < 0x8) {
      s.in_message = true;
      s.message_opcode = h.opcode;
      s.compressed = h.rsv1;
      s.compressed_bytes = 0;
      s.utf8.reset();
    }
    if (h.opcode < 0x8 && s.compressed) s.compressed_bytes += h.length;
    s.in_frame = true;
    s.frame_opcode = h.opcode;
    s.frame_fin = h.fin;
    std::memcpy(s.mask, h.mask, 4);
    s.mask_offset = 0;
    s.remaining = h.length;
    s.control_len = 0;
  }

  if (rc != 0) {
    error_ = rc;
    state_.reset();
  } else if (closed_) {
    state_.reset();
  } else if (state_ && !state_->in_frame && !state_->in_message && state_->header_len == 0) {
    state_.reset();  // nothing held: an idle connection keeps no buffers
  }
  return rc;
}

}  // namespace herald::ws
