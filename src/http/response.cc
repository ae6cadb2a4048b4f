// HTTP/1.1 response writer. Appends straight into the caller's buffer, since
// small responses are written on every API call; only a JSON error body is
// built first, because its length must precede it.
#include "http/response.h"

#include <charconv>

namespace herald::http {

namespace {

void appendNumber(std::string* out, long long n) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), n);
  out->append(buf, res.ptr);
}

// Minimal JSON string escaping: quote, backslash and control characters.
// Other bytes (UTF-8 included) pass through unchanged.
void appendJsonEscaped(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xf]);
        } else {
          out->push_back(ch);
        }
    }
  }
}

}  // namespace

std::string_view reasonPhrase(int status) {
  switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

void appendResponse(std::string* out, int status, std::string_view content_type,
                    std::string_view body, bool close, std::string_view extra_headers) {
  // 1xx and 204 responses must not carry Content-Length or a body
  // (RFC 9110 8.6, 15.3.5); a 101 handshake would otherwise confuse clients.
  bool bodyless = (status >= 100 && status < 200) || status == 204;
  std::string_view reason = reasonPhrase(status);
  out->reserve(out->size() + 96 + content_type.size() + extra_headers.size() +
               (bodyless ? 0 : body.size()));
  out->append("HTTP/1.1 ");
  appendNumber(out, status);
  out->push_back(' ');
  out->append(reason);
  out->append("\r\n");
  if (!bodyless) {
    if (!content_type.empty()) {
      out->append("Content-Type: ");
      out->append(content_type);
      out->append("\r\n");
    }
    out->append("Content-Length: ");
    appendNumber(out, static_cast<long long>(body.size()));
    out->append("\r\n");
  }
  if (close) out->append("Connection: close\r\n");
  out->append(extra_headers);
  out->append("\r\n");
  if (!bodyless) out->append(body);
}

void appendJsonError(std::string* out, int status, int code, std::string_view message,
                     bool close) {
  std::string body;
  body.reserve(48 + message.size());
  body.append("{\"error\":{\"code\":");
  appendNumber(&body, code);
  body.append(",\"message\":\"");
  appendJsonEscaped(&body, message);
  body.append("\"}}");
  appendResponse(out, status, "application/json", body, close);
}

}  // namespace herald::http
