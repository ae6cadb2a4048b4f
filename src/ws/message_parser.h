// Server-side WebSocket message parser (RFC 6455 sections 5-7, RFC 7692).
// Takes the bytes of a connection as they arrive, split anywhere, unmasks
// them in place, and reports whole messages: fragments are reassembled
// (control frames may arrive between them), compressed messages inflated,
// text validated as UTF-8 incrementally so bad text fails fast. Violations
// come back as the close code to send. Memory is bounded by the message size
// limit. Keeps only a partial frame and a partial message between calls, so
// an idle connection holds no buffers. One per connection; not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "ws/deflate.h"
#include "ws/frame.h"
#include "ws/utf8.h"

namespace herald::ws {

class MessageHandler {
 public:
  virtual ~MessageHandler() = default;
  // A complete data message (kText or kBinary), reassembled and inflated;
  // text is valid UTF-8. `payload` is valid only during the call.
  virtual void onMessage(Opcode opcode, std::string_view payload) = 0;
  virtual void onPing(std::string_view payload) = 0;
  virtual void onPong(std::string_view payload) = 0;
  // A valid Close frame: code 1005 (kCloseNoStatus) when it had no body.
  // The parser consumes nothing after it.
  virtual void onClose(uint16_t code, std::string_view reason) = 0;
};

class MessageParser {
 public:
  explicit MessageParser(size_t max_message_bytes);
  ~MessageParser();
  MessageParser(MessageParser&&) noexcept;
  MessageParser& operator=(MessageParser&&) noexcept;

  // Accepts RSV1 on the first frame of a data message from now on.
  void enableDeflate(const DeflateParams& params);

  // Consumes `len` bytes (unmasking them in place) and calls `handler` for
  // every complete message or control frame. Returns 0 if all is well, or the
  // close code the connection must be closed with: 1002 protocol error
  // (unmasked frame, reserved bits or opcodes, bad fragmentation, control
  // frame over 125 bytes or fragmented, bad close payload or code), 1007
  // invalid UTF-8 (text or close reason), 1009 message over the limit
  // (checked against the announced length before any payload arrives, and
  // against inflated size while inflating). After a non-zero return or after
  // onClose the parser must not be fed again.
  uint16_t feed(char* data, size_t len, MessageHandler& handler);

  // Bytes held between calls (partial frame header and partial message).
  size_t bufferedBytes() const;

 private:
  struct State;
  struct FrameHeader;

  State& ensureState();
  size_t compressedLimit() const;
  int parseHeader(const uint8_t* p, size_t n, FrameHeader* h, uint16_t* error) const;
  uint16_t consumePayload(uint8_t* p, size_t avail, size_t* consumed,
                          MessageHandler& handler);
  uint16_t finishMessage(MessageHandler& handler);
  uint16_t deliverCompressed(Opcode opcode, std::string_view payload,
                             MessageHandler& handler);
  uint16_t handleControl(uint8_t opcode, std::string_view payload,
                         MessageHandler& handler);

  std::unique_ptr<State> state_;  // allocated lazily: null while idle
  size_t max_message_bytes_;
  std::unique_ptr<Inflater> inflater_;
  uint16_t error_ = 0;   // the close code returned, once failed
  bool closed_ = false;  // a Close frame was delivered
};

}  // namespace herald::ws
