// permessage-deflate (RFC 7692): negotiation, and per-connection compressor
// and decompressor built on zlib raw deflate. Inflate output is bounded, so a
// small compressed frame can never expand past the message size limit.
// One Inflater/Deflater per connection; not thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace herald::ws {

struct DeflateParams {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  int server_max_window_bits = 15;  // 8..15 (the server compresses with this)
  int client_max_window_bits = 15;  // 8..15 (the client compresses with this)
};

// Reads a Sec-WebSocket-Extensions request header and, when it offers a
// permessage-deflate configuration the server accepts, returns the agreed
// parameters and sets *response to the header value to send back. Offers are
// tried in order; invalid or unknown parameters make that offer declined.
std::optional<DeflateParams> negotiateDeflate(std::string_view extensions_header,
                                              std::string* response);

enum class InflateStatus { kOk, kTooLarge, kError };

class Inflater {
 public:
  explicit Inflater(const DeflateParams& params);
  ~Inflater();
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Decompresses one piece of a compressed message and appends the result to
  // *out. Call finish() after the last piece of the message (it feeds the
  // 0x00 0x00 0xff 0xff tail and resets the window without context takeover).
  // Fails with kTooLarge as soon as *out would exceed max_out bytes.
  InflateStatus inflate(std::string_view in, std::string* out, size_t max_out);
  InflateStatus finish(std::string* out, size_t max_out);

 private:
  struct State;
  std::unique_ptr<State> state_;
  bool no_context_takeover_;
};

class Deflater {
 public:
  explicit Deflater(const DeflateParams& params);
  ~Deflater();
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  // Compresses one whole message and appends the frame payload (without the
  // trailing 0x00 0x00 0xff 0xff, as RFC 7692 section 7.2.1 says) to *out.
  bool deflate(std::string_view message, std::string* out);

 private:
  struct State;
  std::unique_ptr<State> state_;
  bool no_context_takeover_;
  int window_bits_ = 15;  // zlib's: 9 when 8 was agreed (see deflate.cc)
};

}  // namespace herald::ws
