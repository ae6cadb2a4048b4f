// Incremental HTTP/1.1 request parser.
//
// How it stays correct at any segmentation: every check is decided by the
// bytes up to the position where it fails, and those bytes are looked at in
// order. So a prefix that fails, fails the same way as the whole request, and
// a prefix that completes is the same request as the whole. The parser only
// remembers offsets (scanned_, pos_, ...) and the de-chunked body, because
// the caller's buffer may be reallocated between calls; the Request views are
// rebuilt from `data` on the call that completes.
//
// Line endings: CRLF, and a bare LF is also accepted in the request line and
// header block (RFC 9112 2.2 allows it; nginx and Node do the same, and
// hand-typed requests from nc/telnet work). A bare CR is always refused.
// Chunked framing is stricter and requires CRLF: disagreement between a proxy
// and us about where a chunk line ends is how requests get smuggled.
#include "http/request_parser.h"

#include <algorithm>
#include <cstdint>

#include "base/ascii.h"

namespace herald::http {

namespace {

using base::equalsIgnoreCase;
using base::trimOws;

// Chunk-size lines carry only a hex size and extensions we ignore; this bounds
// how much a client can make us scan and buffer before the size is known.
constexpr size_t kMaxChunkLine = 1024;

ParseResult fail(int http_status, const char* reason) {
  ParseResult r;
  r.status = ParseStatus::kError;
  r.http_status = http_status;
  r.reason = reason;
  return r;
}

ParseResult incomplete() { return ParseResult{}; }

ParseResult complete(size_t consumed) {
  ParseResult r;
  r.status = ParseStatus::kComplete;
  r.consumed = consumed;
  return r;
}

// "This step passed" for the helpers below; only parse() reports consumed.
ParseResult ok() { return complete(0); }

bool isTchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool isToken(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (!isTchar(c)) return false;
  }
  return true;
}

// field-content: visible characters, obs-text, SP and HTAB; no other controls.
bool isFieldText(std::string_view s) {
  for (unsigned char c : s) {
    if (c != '\t' && (c < 0x20 || c == 0x7f)) return false;
  }
  return true;
}


// End of the line content that ends at `lf`, without its optional CR.
size_t contentEnd(std::string_view data, size_t line_start, size_t lf) {
  return (lf > line_start && data[lf - 1] == '\r') ? lf - 1 : lf;
}

struct RequestLine {
  std::string_view method;
  std::string_view target;
  int version_minor = 1;
};

ParseResult parseRequestLine(std::string_view line, RequestLine* out) {
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return fail(400, "malformed request line");
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return fail(400, "malformed request line");
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!isToken(method)) return fail(400, "invalid method");
  if (target.empty()) return fail(400, "malformed request line");
  for (unsigned char c : target) {
    if (c <= 0x20 || c == 0x7f) return fail(400, "invalid character in request target");
  }
  // Only origin-form (and "*" for OPTIONS): we are an origin server, not a
  // proxy, so absolute-form and authority-form (CONNECT) are refused.
  if (target[0] != '/' && !(target == "*" && method == "OPTIONS")) {
    return fail(400, "unsupported request target");
  }
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
    return fail(400, "malformed HTTP version");
  }
  if (version[5] != '1' || (version[7] != '0' && version[7] != '1')) {
    return fail(505, "HTTP version not supported");
  }
  out->method = method;
  out->target = target;
  out->version_minor = version[7] - '0';
  return ok();
}

// Adds the values of one Content-Length field (a list of equal values is
// allowed, RFC 9110 8.6) into *length; any disagreement is an error.
ParseResult addContentLength(std::string_view value, bool* seen, size_t* length) {
  while (true) {
    size_t comma = value.find(',');
    std::string_view item = trimOws(value.substr(0, comma));
    if (item.empty()) return fail(400, "invalid Content-Length");
    size_t n = 0;
    for (char c : item) {
      if (c < '0' || c > '9') return fail(400, "invalid Content-Length");
      // Saturate: a huge but well-formed length is "too large" (413), not malformed.
      size_t digit = static_cast<size_t>(c - '0');
      n = (n > (SIZE_MAX - digit) / 10) ? SIZE_MAX : n * 10 + digit;
    }
    if (*seen && n != *length) return fail(400, "conflicting Content-Length");
    *seen = true;
    *length = n;
    if (comma == std::string_view::npos) return ok();
    value.remove_prefix(comma + 1);
  }
}

}  // namespace

void RequestParser::reset() {
  // chunked_body_ is kept: the last request's body view must survive until
  // its handler is done (callers reset before routing, and responses may be
  // deferred). parse() drops it when the next request starts.
  scanned_ = 0;
  stage_ = Stage::kRequestLine;
  continue_pending_ = false;
  pos_ = 0;
  headers_start_ = 0;
  body_start_ = 0;
  body_length_ = 0;
  chunk_left_ = 0;
  trailers_start_ = 0;
}

ParseResult RequestParser::parse(std::string_view data, Request* out) {
  // A shorter buffer cannot be a growing prefix of the request we were
  // parsing: start over rather than read past its end.
  if (data.size() < std::max(scanned_, pos_)) reset();
  if (stage_ == Stage::kRequestLine && scanned_ == 0) {
    // A new request: free the previous de-chunked body rather than keep a
    // body-sized buffer on an idle connection. Chunked requests are rare
    // enough that reallocating is cheap.
    std::string().swap(chunked_body_);
  }

  bool head_filled = false;
  if (stage_ == Stage::kRequestLine || stage_ == Stage::kHeaders) {
    ParseResult r = scanHead(data);
    if (r.status != ParseStatus::kComplete) return r;
    r = parseHead(data.substr(0, body_start_), out, /*first_time=*/true);
    if (r.status != ParseStatus::kComplete) return r;
    head_filled = true;
  }

  ParseResult r;
  if (stage_ == Stage::kBody) {
    if (data.size() - body_start_ < body_length_) return incomplete();
    r = complete(body_start_ + body_length_);
  } else {
    r = parseChunked(data);
    if (r.status != ParseStatus::kComplete) return r;
  }
  // The views from an earlier call may point into a buffer that has since
  // moved, so a request completed in a later call is described afresh.
  if (!head_filled) parseHead(data.substr(0, body_start_), out, /*first_time=*/false);
  out->body = stage_ == Stage::kBody ? data.substr(body_start_, body_length_)
                                     : std::string_view(chunked_body_);
  return r;
}

// Finds the end of the header block, enforcing the size limits as bytes
// arrive and validating the request line as soon as it is complete. Resumes
// from scanned_, so feeding a request byte by byte costs O(n) overall.
ParseResult RequestParser::scanHead(std::string_view data) {
  while (stage_ == Stage::kRequestLine) {
    size_t lf = data.find('\n', scanned_);
    if (lf == std::string_view::npos) {
      // The line is at least this long even if the last byte is the CR of its CRLF.
      size_t at_least = data.size();
      if (at_least > 0 && data[at_least - 1] == '\r') --at_least;
      if (at_least > limits_.max_request_line) return fail(414, "request line too long");
      scanned_ = data.size();
      return incomplete();
    }
    size_t end = contentEnd(data, pos_, lf);
    // Measured from the buffer start, so empty lines before the request line
    // (ignored, RFC 9112 2.2) count against the same limit and cannot stream forever.
    if (end > limits_.max_request_line) return fail(414, "request line too long");
    if (end > pos_) {
      RequestLine line;
      ParseResult r = parseRequestLine(data.substr(pos_, end - pos_), &line);
      if (r.status != ParseStatus::kComplete) return r;
      headers_start_ = lf + 1;
      stage_ = Stage::kHeaders;
    }
    pos_ = scanned_ = lf + 1;
  }

  // Header bytes are counted from the first header line through the blank
  // line that ends the block, line endings included.
  while (true) {
    size_t lf = data.find('\n', scanned_);
    if (lf == std::string_view::npos) {
      if (data.size() - headers_start_ > limits_.max_header_bytes) {
        return fail(431, "header block too large");
      }
      scanned_ = data.size();
      return incomplete();
    }
    if (lf + 1 - headers_start_ > limits_.max_header_bytes) {
      return fail(431, "header block too large");
    }
    if (contentEnd(data, pos_, lf) == pos_) {
      // pos_ stays on the blank line until parseHead accepts the block, so a
      // call after an error (or after completion) finds the same answer.
      body_start_ = lf + 1;
      return ok();
    }
    pos_ = scanned_ = lf + 1;
  }
}

// Fills *out from the complete header block `head` and, the first time,
// decides how the body is framed. Deterministic, so the later call that
// completes the body gets the same answer.
ParseResult RequestParser::parseHead(std::string_view head, Request* out, bool first_time) {
  size_t pos = 0;
  auto nextLine = [&]() {
    size_t lf = head.find('\n', pos);  // always found: scanHead saw every line end
    std::string_view line = head.substr(pos, contentEnd(head, pos, lf) - pos);
    pos = lf + 1;
    return line;
  };

  std::string_view first = nextLine();
  while (first.empty()) first = nextLine();
  RequestLine line;
  parseRequestLine(first, &line);  // already validated by scanHead
  out->method = line.method;
  out->target = line.target;
  out->version_minor = line.version_minor;
  size_t q = line.target.find('?');
  out->path = line.target.substr(0, q);
  out->query = q == std::string_view::npos ? std::string_view{} : line.target.substr(q + 1);
  out->num_headers = 0;
  out->body = {};

  bool has_length = false;
  size_t length = 0;
  bool has_te = false;
  int chunked_count = 0;
  bool other_coding = false;

  for (std::string_view h = nextLine(); !h.empty(); h = nextLine()) {
    if (h[0] == ' ' || h[0] == '\t') return fail(400, "obsolete line folding");
    size_t colon = h.find(':');
    if (colon == std::string_view::npos) return fail(400, "header line without colon");
    std::string_view name = h.substr(0, colon);
    if (!name.empty() && (name.back() == ' ' || name.back() == '\t')) {
      return fail(400, "whitespace before colon");
    }
    if (!isToken(name)) return fail(400, "invalid header name");
    std::string_view value = trimOws(h.substr(colon + 1));
    if (!isFieldText(value)) return fail(400, "invalid character in header value");
    if (out->num_headers == Request::kMaxHeaders) return fail(431, "too many headers");
    out->headers[out->num_headers++] = Header{name, value};

    if (equalsIgnoreCase(name, "content-length")) {
      ParseResult r = addContentLength(value, &has_length, &length);
      if (r.status != ParseStatus::kComplete) return r;
    } else if (equalsIgnoreCase(name, "transfer-encoding")) {
      has_te = true;
      std::string_view rest = value;
      while (true) {
        size_t comma = rest.find(',');
        std::string_view coding = trimOws(rest.substr(0, comma));
        if (equalsIgnoreCase(coding, "chunked")) {
          ++chunked_count;
        } else if (!coding.empty()) {
          other_coding = true;
        }
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
    }
  }

  bool http11 = out->version_minor == 1;
  out->keep_alive = !out->headerHasToken("connection", "close") &&
                    (http11 || out->headerHasToken("connection", "keep-alive"));

  if (has_te) {
    // Both framings at once is the classic smuggling setup (RFC 9112 6.3).
    if (has_length) return fail(400, "both Content-Length and Transfer-Encoding");
    if (!http11) return fail(400, "Transfer-Encoding in HTTP/1.0");
    if (other_coding) return fail(501, "unsupported transfer coding");
    if (chunked_count != 1) return fail(400, "invalid Transfer-Encoding");
  } else if (length > limits_.max_body_bytes) {
    return fail(413, "body too large");
  }

  if (first_time) {
    pos_ = scanned_ = body_start_;
    // RFC 9110 10.1.1: a client that sent "Expect: 100-continue" waits for
    // an interim answer before sending the body.
    continue_pending_ = http11 && (has_te || length > 0) &&
                        equalsIgnoreCase(out->header("expect"), "100-continue");
    if (has_te) {
      stage_ = Stage::kChunkSize;
    } else {
      stage_ = Stage::kBody;
      body_length_ = length;
    }
  }
  return ok();
}

// Advances through chunked framing from pos_, copying chunk data into
// chunked_body_. Each byte of data is copied once, however it is segmented.
ParseResult RequestParser::parseChunked(std::string_view data) {
  while (true) {
    switch (stage_) {
      case Stage::kChunkSize: {
        size_t lf = data.find('\n', scanned_);
        if (lf == std::string_view::npos) {
          if (data.size() - pos_ > kMaxChunkLine) return fail(400, "chunk size line too long");
          scanned_ = data.size();
          return incomplete();
        }
        if (lf - pos_ > kMaxChunkLine) return fail(400, "chunk size line too long");
        if (lf == pos_ || data[lf - 1] != '\r') return fail(400, "chunk line without CRLF");
        std::string_view line = data.substr(pos_, lf - 1 - pos_);
        size_t size = 0;
        size_t i = 0;
        for (; i < line.size(); ++i) {
          char c = line[i];
          int digit = (c >= '0' && c <= '9')   ? c - '0'
                      : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                      : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                               : -1;
          if (digit < 0) break;
          if (size > (SIZE_MAX >> 4)) return fail(400, "chunk size overflow");
          size = (size << 4) | static_cast<size_t>(digit);
        }
        if (i == 0) return fail(400, "invalid chunk size");
        // Extensions (";name=value") are allowed and ignored, but must not
        // hide control characters such as a bare CR.
        std::string_view ext = line.substr(i);
        while (!ext.empty() && (ext.front() == ' ' || ext.front() == '\t')) ext.remove_prefix(1);
        if (!ext.empty() && ext.front() != ';') return fail(400, "invalid chunk size");
        if (!isFieldText(ext)) return fail(400, "invalid chunk extension");
        if (size > limits_.max_body_bytes - chunked_body_.size()) {
          return fail(413, "body too large");
        }
        pos_ = scanned_ = lf + 1;
        if (size == 0) {
          stage_ = Stage::kTrailers;
          trailers_start_ = pos_;
        } else {
          stage_ = Stage::kChunkData;
          chunk_left_ = size;
        }
        break;
      }
      case Stage::kChunkData: {
        size_t n = std::min(chunk_left_, data.size() - pos_);
        chunked_body_.append(data.data() + pos_, n);
        pos_ = scanned_ = pos_ + n;
        chunk_left_ -= n;
        if (chunk_left_ > 0) return incomplete();
        stage_ = Stage::kChunkDataEnd;
        break;
      }
      case Stage::kChunkDataEnd: {
        size_t avail = data.size() - pos_;
        if (avail >= 1 && data[pos_] != '\r') return fail(400, "chunk data without CRLF");
        if (avail >= 2 && data[pos_ + 1] != '\n') return fail(400, "chunk data without CRLF");
        if (avail < 2) return incomplete();
        pos_ = scanned_ = pos_ + 2;
        stage_ = Stage::kChunkSize;
        break;
      }
      case Stage::kTrailers: {
        // Trailer fields are skipped (nothing here needs them) but bounded
        // like headers, and their lines must be clean CRLF lines.
        size_t lf = data.find('\n', scanned_);
        if (lf == std::string_view::npos) {
          if (data.size() - trailers_start_ > limits_.max_header_bytes) {
            return fail(431, "trailer block too large");
          }
          scanned_ = data.size();
          return incomplete();
        }
        if (lf + 1 - trailers_start_ > limits_.max_header_bytes) {
          return fail(431, "trailer block too large");
        }
        if (lf == pos_ || data[lf - 1] != '\r') return fail(400, "trailer line without CRLF");
        std::string_view line = data.substr(pos_, lf - 1 - pos_);
        // pos_ stays on the final blank line, so calling again before reset()
        // answers the same.
        if (line.empty()) return complete(lf + 1);
        if (!isFieldText(line) || line[0] == ' ' || line[0] == '\t') {
          return fail(400, "invalid trailer line");
        }
        pos_ = scanned_ = lf + 1;
        break;
      }
      default:
        return fail(500, "parser in unexpected state");
    }
  }
}

}  // namespace herald::http
