// permessage-deflate (RFC 7692) on zlib raw deflate.
//
// Window bits. zlib cannot compress with an 8-bit window: deflateInit2()
// rejects -8 for raw streams. When a client asks server_max_window_bits=8 we
// still agree to 8 and compress with a 9-bit window, which is compliant:
// zlib never emits a match distance above w_size - MIN_LOOKAHEAD
// (512 - 262 = 250 bytes for 9 bits), so every stream it writes fits a
// 256-byte window (a unit test inflates our 9-bit output with an 8-bit
// window). The inflater always uses a 15-bit window: it accepts any window
// the client compresses with, whatever client_max_window_bits said.
//
// Memory. zlib state is allocated on first use, not when a connection opens.
// With client_no_context_takeover the inflater frees its state (about 7 KB
// plus a 32 KB window) after every message, so an idle connection holds
// none. The deflater keeps its state (about 256 KB at 15 bits) while the
// connection lives: deflateInit2() clears its hash table, too slow to redo
// for every message.
#include "ws/deflate.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "base/ascii.h"

namespace herald::ws {
namespace {

using base::equalsIgnoreCase;

constexpr int kMemLevel = 8;                       // zlib's default
constexpr int kDeflateLevel = Z_DEFAULT_COMPRESSION;  // level 6
constexpr int kInflateWindowBits = 15;             // always safe, see above
constexpr size_t kMaxZlibChunk = size_t{1} << 30;  // fits zlib's uInt
constexpr size_t kMinInflateGrant = 1024;
constexpr size_t kMaxInflateGrant = 256 * 1024;
constexpr uint8_t kTail[4] = {0x00, 0x00, 0xff, 0xff};
constexpr size_t kMaxWindow = size_t{1} << 15;

// ---------------------------------------------------------------------------
// Sec-WebSocket-Extensions parsing (RFC 6455 section 9.1):
//   extension-list = 1#( extension-token *( ";" extension-param ) )
//   extension-param = token [ "=" ( token | quoted-string ) ]

bool isTchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    return true;
  }
  return c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

class ExtensionLexer {
 public:
  explicit ExtensionLexer(std::string_view s) : s_(s) {}

  bool atEnd() {
    skipOws();
    return i_ >= s_.size();
  }
  bool consume(char c) {
    skipOws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  std::string_view token() {
    skipOws();
    size_t start = i_;
    while (i_ < s_.size() && isTchar(s_[i_])) ++i_;
    return s_.substr(start, i_ - start);
  }
  // A token or a quoted-string; false on a syntax error.
  bool value(std::string* out) {
    skipOws();
    out->clear();
    if (i_ < s_.size() && s_[i_] == '"') {
      ++i_;
      while (i_ < s_.size()) {
        char c = s_[i_++];
        if (c == '"') return true;
        if (c == '\\') {
          if (i_ >= s_.size()) return false;
          c = s_[i_++];
        }
        out->push_back(c);
      }
      return false;  // unterminated
    }
    std::string_view t = token();
    out->assign(t);
    return !t.empty();
  }
  // Skips to just after the next ',' outside quotes (or to the end).
  void skipElement() {
    bool quoted = false;
    while (i_ < s_.size()) {
      char c = s_[i_++];
      if (quoted) {
        if (c == '\\' && i_ < s_.size()) ++i_;
        else if (c == '"') quoted = false;
      } else if (c == '"') {
        quoted = true;
      } else if (c == ',') {
        return;
      }
    }
  }

 private:
  void skipOws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
  }
  std::string_view s_;
  size_t i_ = 0;
};

// "8".."15": digits only, no leading zero.
int parseWindowBits(std::string_view v) {
  if (v.empty() || v.size() > 2 || v[0] == '0') return -1;
  int n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return (n >= 8 && n <= 15) ? n : -1;
}

struct Offer {
  DeflateParams params;
  bool server_bits_requested = false;
  bool client_bits_given = false;  // client_max_window_bits had a value
};

// Parses the parameters of one permessage-deflate offer, after its name.
// Returns false when the offer must be declined (unknown or duplicate
// parameter, bad value); the lexer is then left inside the element.
bool parseOfferParams(ExtensionLexer& lex, Offer* offer) {
  bool seen_snct = false, seen_cnct = false, seen_smwb = false, seen_cmwb = false;
  std::string value;
  while (lex.consume(';')) {
    std::string_view name = lex.token();
    if (name.empty()) return false;
    bool has_value = false;
    if (lex.consume('=')) {
      if (!lex.value(&value)) return false;
      has_value = true;
    }
    if (equalsIgnoreCase(name, "server_no_context_takeover")) {
      if (seen_snct || has_value) return false;
      seen_snct = true;
      offer->params.server_no_context_takeover = true;
    } else if (equalsIgnoreCase(name, "client_no_context_takeover")) {
      if (seen_cnct || has_value) return false;
      seen_cnct = true;
      offer->params.client_no_context_takeover = true;
    } else if (equalsIgnoreCase(name, "server_max_window_bits")) {
      if (seen_smwb || !has_value) return false;
      seen_smwb = true;
      int bits = parseWindowBits(value);
      if (bits < 0) return false;
      offer->params.server_max_window_bits = bits;
      offer->server_bits_requested = true;
    } else if (equalsIgnoreCase(name, "client_max_window_bits")) {
      if (seen_cmwb) return false;
      seen_cmwb = true;
      if (has_value) {
        int bits = parseWindowBits(value);
        if (bits < 0) return false;
        offer->params.client_max_window_bits = bits;
        offer->client_bits_given = true;
      }
    } else {
      return false;  // unknown parameter
    }
  }
  return true;
}

void buildResponse(const Offer& offer, std::string* response) {
  response->assign("permessage-deflate");
  // Required: the client asked for it and we accept the offer as is.
  if (offer.params.server_no_context_takeover) {
    response->append("; server_no_context_takeover");
  }
  // The client offered to reset its compressor after each message; holding
  // it to that lets the inflater drop its window between messages.
  if (offer.params.client_no_context_takeover) {
    response->append("; client_no_context_takeover");
  }
  if (offer.server_bits_requested) {
    response->append("; server_max_window_bits=");
    response->append(std::to_string(offer.params.server_max_window_bits));
  }
  // Echoing the client's own limit is allowed and tells it we saw it; with
  // no value in the offer we send nothing (a response value would be a new
  // limit the client did not ask for).
  if (offer.client_bits_given) {
    response->append("; client_max_window_bits=");
    response->append(std::to_string(offer.params.client_max_window_bits));
  }
}

}  // namespace

std::optional<DeflateParams> negotiateDeflate(std::string_view extensions_header,
                                              std::string* response) {
  ExtensionLexer lex(extensions_header);
  while (!lex.atEnd()) {
    if (lex.consume(',')) continue;  // empty list element
    std::string_view name = lex.token();
    bool ok = !name.empty();
    if (ok && equalsIgnoreCase(name, "permessage-deflate")) {
      Offer offer;
      if (parseOfferParams(lex, &offer) && (lex.atEnd() || lex.consume(','))) {
        if (response != nullptr) buildResponse(offer, response);
        return offer.params;
      }
    }
    lex.skipElement();  // another extension, or a declined offer
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Inflater

struct Inflater::State {
  z_stream z{};
  bool initialized = false;
  bool fed = false;          // input seen since the last finish()
  bool stream_ended = false; // the last input ended a BFINAL block exactly

  ~State() {
    if (initialized) inflateEnd(&z);
  }
};

Inflater::Inflater(const DeflateParams& params)
    : no_context_takeover_(params.client_no_context_takeover) {}

Inflater::~Inflater() = default;

namespace {

// Runs inflate over `in`, appending to *out, never growing *out beyond
// max_out + 1 bytes. Returns kTooLarge as soon as out exceeds max_out.
// *ended is set when the input ended exactly at the end of a final block.
InflateStatus runInflate(z_stream& z, const uint8_t* in, size_t len, std::string* out,
                         size_t max_out, bool no_context_takeover, bool* ended) {
  while (true) {
    *ended = false;
    size_t chunk = std::min(len, kMaxZlibChunk);
    z.next_in = const_cast<Bytef*>(in);
    z.avail_in = static_cast<uInt>(chunk);
    in += chunk;
    len -= chunk;
    while (true) {
      size_t used = out->size();
      if (used > max_out) return InflateStatus::kTooLarge;
      size_t room = max_out - used;  // may be 0: then one byte detects excess
      size_t grant = std::clamp<size_t>(size_t{z.avail_in} * 4, kMinInflateGrant,
                                        kMaxInflateGrant);
      grant = std::min(grant, room == SIZE_MAX ? room : room + 1);
      out->resize(used + grant);
      z.next_out = reinterpret_cast<Bytef*>(out->data() + used);
      z.avail_out = static_cast<uInt>(grant);
      int ret = ::inflate(&z, Z_SYNC_FLUSH);
      out->resize(used + (grant - z.avail_out));
      if (ret != Z_OK && ret != Z_BUF_ERROR && ret != Z_STREAM_END) {
        return InflateStatus::kError;
      }
      if (out->size() > max_out) return InflateStatus::kTooLarge;
      if (ret == Z_STREAM_END) {
        // The peer ended a block with BFINAL set (RFC 7692 section 7.2.3.4
        // allows it). Start a new stream, keeping the window for context
        // takeover.
        if (no_context_takeover) {
          inflateReset(&z);
        } else {
          std::unique_ptr<Bytef[]> dict(new Bytef[kMaxWindow]);
          uInt dict_len = 0;
          inflateGetDictionary(&z, dict.get(), &dict_len);
          inflateReset(&z);
          if (dict_len > 0) inflateSetDictionary(&z, dict.get(), dict_len);
        }
        if (z.avail_in == 0) {
          *ended = true;
          break;
        }
        continue;
      }
      if (z.avail_out != 0) break;  // all input consumed and output flushed
    }
    if (len == 0) return InflateStatus::kOk;
  }
}

}  // namespace

InflateStatus Inflater::inflate(std::string_view in, std::string* out, size_t max_out) {
  if (in.empty()) return InflateStatus::kOk;
  if (!state_) state_ = std::make_unique<State>();
  State& s = *state_;
  if (!s.initialized) {
    if (inflateInit2(&s.z, -kInflateWindowBits) != Z_OK) return InflateStatus::kError;
    s.initialized = true;
  }
  s.fed = true;
  return runInflate(s.z, reinterpret_cast<const uint8_t*>(in.data()), in.size(), out,
                    max_out, no_context_takeover_, &s.stream_ended);
}

InflateStatus Inflater::finish(std::string* out, size_t max_out) {
  // An empty compressed message (nothing fed) leaves the stream untouched.
  if (!state_ || !state_->fed) return InflateStatus::kOk;
  State& s = *state_;
  s.fed = false;
  InflateStatus status = InflateStatus::kOk;
  if (!s.stream_ended) {
    bool ended = false;
    status = runInflate(s.z, kTail, sizeof(kTail), out, max_out, no_context_takeover_,
                        &ended);
    // After the tail a well-formed message leaves the decoder between
    // blocks (bit 128 of data_type). Anything else is a truncated or
    // corrupt message, which would desynchronize every later one.
    if (status == InflateStatus::kOk && !ended && (s.z.data_type & 128) == 0) {
      status = InflateStatus::kError;
    }
  }
  s.stream_ended = false;
  if (no_context_takeover_) state_.reset();
  return status;
}

// ---------------------------------------------------------------------------
// Deflater

struct Deflater::State {
  z_stream z{};
  bool initialized = false;

  ~State() {
    if (initialized) deflateEnd(&z);
  }
};

Deflater::Deflater(const DeflateParams& params)
    : no_context_takeover_(params.server_no_context_takeover) {
  window_bits_ = std::clamp(params.server_max_window_bits, 9, 15);
}

Deflater::~Deflater() = default;

bool Deflater::deflate(std::string_view message, std::string* out) {
  if (message.empty()) {
    // An empty non-final stored block header; with the tail the peer
    // appends it is a complete empty block (RFC 7692 section 7.2.3.6).
    // zlib would refuse a second sync flush with no new input.
    out->push_back('\0');
    return true;
  }
  if (!state_) state_ = std::make_unique<State>();
  State& s = *state_;
  if (!s.initialized) {
    if (deflateInit2(&s.z, kDeflateLevel, Z_DEFLATED, -window_bits_, kMemLevel,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
      return false;
    }
    s.initialized = true;
  }
  z_stream& z = s.z;
  const size_t start = out->size();
  const Bytef* in = reinterpret_cast<const Bytef*>(message.data());
  size_t len = message.size();
  while (true) {
    size_t chunk = std::min(len, kMaxZlibChunk);
    z.next_in = const_cast<Bytef*>(in);
    z.avail_in = static_cast<uInt>(chunk);
    in += chunk;
    len -= chunk;
    const int flush = len == 0 ? Z_SYNC_FLUSH : Z_NO_FLUSH;
    while (true) {
      size_t used = out->size();
      size_t grant = std::min<size_t>(deflateBound(&z, z.avail_in) + 16, kMaxZlibChunk);
      out->resize(used + grant);
      z.next_out = reinterpret_cast<Bytef*>(out->data() + used);
      z.avail_out = static_cast<uInt>(grant);
      int ret = ::deflate(&z, flush);
      out->resize(used + (grant - z.avail_out));
      if (ret != Z_OK && ret != Z_BUF_ERROR) {
        out->resize(start);
        return false;
      }
      if (z.avail_out != 0) break;  // everything consumed and flushed
    }
    if (len == 0) break;
  }
  // A sync flush always ends with the empty stored block 00 00 ff ff; the
  // receiver adds it back (RFC 7692 section 7.2.1).
  if (out->size() - start < 4 ||
      std::memcmp(out->data() + out->size() - 4, kTail, 4) != 0) {
    out->resize(start);
    return false;
  }
  out->resize(out->size() - 4);
  if (no_context_takeover_) deflateReset(&z);
  return true;
}

}  // namespace herald::ws
