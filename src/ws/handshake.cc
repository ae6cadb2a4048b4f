#include "ws/handshake.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <string>

#include "base/ascii.h"

namespace herald::ws {
namespace {

using base::equalsIgnoreCase;
using base::trimOws;

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr int kBadRequestCode = 107;  // protocol error code "bad request"

// Header lookups walk every header line rather than the first match only:
// Connection and Sec-WebSocket-Extensions may legally be split over several
// lines ("Connection: keep-alive" then "Connection: Upgrade").
size_t countHeaders(const http::Request& req, std::string_view name) {
  size_t n = 0;
  for (size_t i = 0; i < req.num_headers; ++i) {
    if (equalsIgnoreCase(req.headers[i].name, name)) ++n;
  }
  return n;
}

std::string_view firstHeader(const http::Request& req, std::string_view name) {
  for (size_t i = 0; i < req.num_headers; ++i) {
    if (equalsIgnoreCase(req.headers[i].name, name)) return trimOws(req.headers[i].value);
  }
  return {};
}

bool hasToken(const http::Request& req, std::string_view name, std::string_view token) {
  for (size_t i = 0; i < req.num_headers; ++i) {
    if (!equalsIgnoreCase(req.headers[i].name, name)) continue;
    std::string_view v = req.headers[i].value;
    while (!v.empty()) {
      size_t comma = v.find(',');
      std::string_view item = trimOws(v.substr(0, comma));
      if (equalsIgnoreCase(item, token)) return true;
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return false;
}

bool isBase64Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '+' || c == '/';
}

// 16 bytes encode to 22 base64 characters and "==" of padding.
bool isValidKey(std::string_view key) {
  if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
  for (size_t i = 0; i < 22; ++i) {
    if (!isBase64Char(key[i])) return false;
  }
  return true;
}

std::string_view reasonPhrase(int status) {
  switch (status) {
    case 101: return "Switching Protocols";
    case 400: return "Bad Request";
    case 405: return "Method Not Allowed";
    case 426: return "Upgrade Required";
    default: return "Error";
  }
}

// `reason` is one of the constants below: plain ASCII, nothing to escape.
HandshakeResult refuse(int status, const char* reason) {
  HandshakeResult r;
  r.status = status;
  r.reason = reason;
  std::string body = "{\"error\":{\"code\":" + std::to_string(kBadRequestCode) +
                     ",\"message\":\"" + reason + "\"}}";
  std::string& out = r.response;
  out.reserve(160 + body.size());
  out.append("HTTP/1.1 ").append(std::to_string(status)).append(" ");
  out.append(reasonPhrase(status)).append("\r\n");
  out.append("Content-Type: application/json\r\n");
  out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  out.append("Connection: close\r\n");
  if (status == 405) out.append("Allow: GET\r\n");
  if (status == 426) out.append("Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
  out.append("\r\n").append(body);
  return r;
}

}  // namespace

std::string computeAcceptKey(std::string_view key) {
  std::string input;
  input.reserve(key.size() + kGuid.size());
  input.append(key).append(kGuid);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  unsigned char encoded[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  int n = EVP_EncodeBlock(encoded, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<size_t>(n));
}

HandshakeResult acceptHandshake(const http::Request& request, bool allow_deflate) {
  if (request.method != "GET") return refuse(405, "method not allowed");
  if (request.version_minor != 1) return refuse(400, "HTTP/1.1 required");
  if (!hasToken(request, "upgrade", "websocket")) {
    return refuse(400, "missing Upgrade: websocket");
  }
  if (!hasToken(request, "connection", "upgrade")) {
    return refuse(400, "missing Connection: Upgrade");
  }
  std::string_view version = firstHeader(request, "sec-websocket-version");
  if (version.empty()) return refuse(400, "missing Sec-WebSocket-Version");
  if (version != "13") return refuse(426, "unsupported WebSocket version");
  if (countHeaders(request, "sec-websocket-key") != 1) {
    return refuse(400, "missing or repeated Sec-WebSocket-Key");
  }
  std::string_view key = firstHeader(request, "sec-websocket-key");
  if (!isValidKey(key)) return refuse(400, "invalid Sec-WebSocket-Key");

  HandshakeResult r;
  r.status = 101;
  std::string extensions;
  if (allow_deflate) {
    // Several header lines are one list, offers in order.
    for (size_t i = 0; i < request.num_headers && !r.deflate; ++i) {
      if (equalsIgnoreCase(request.headers[i].name, "sec-websocket-extensions")) {
        r.deflate = negotiateDeflate(request.headers[i].value, &extensions);
      }
    }
  }
  std::string& out = r.response;
  out.reserve(192 + extensions.size());
  out.append("HTTP/1.1 101 Switching Protocols\r\n");
  out.append("Upgrade: websocket\r\n");
  out.append("Connection: Upgrade\r\n");
  out.append("Sec-WebSocket-Accept: ").append(computeAcceptKey(key)).append("\r\n");
  if (r.deflate) out.append("Sec-WebSocket-Extensions: ").append(extensions).append("\r\n");
  out.append("\r\n");
  return r;
}

}  // namespace herald::ws
