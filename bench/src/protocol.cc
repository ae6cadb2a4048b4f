#include "protocol.h"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace herald::bench {
namespace {

// Parses decimal digits at *pos up to `end`; advances past `end`.
bool parseNumber(std::string_view text, size_t* pos, char end, uint64_t* out) {
  size_t p = *pos;
  uint64_t v = 0;
  const size_t start = p;
  while (p < text.size() && unsigned(text[p] - '0') < 10) v = v * 10 + uint64_t(text[p++] - '0');
  if (p == start || p - start > 19 || p >= text.size() || text[p] != end) return false;
  *out = v;
  *pos = p + 1;
  return true;
}

std::string urlEncode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += char(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace

bool parseProto(std::string_view name, Proto* out) {
  if (name == "herald") *out = Proto::kHerald;
  else if (name == "socketio") *out = Proto::kSocketIo;
  else if (name == "centrifugo") *out = Proto::kCentrifugo;
  else if (name == "plainws") *out = Proto::kPlainWs;
  else if (name == "herald-sse") *out = Proto::kHeraldSse;
  else return false;
  return true;
}

const char* protoName(Proto proto) {
  switch (proto) {
    case Proto::kHerald: return "herald";
    case Proto::kSocketIo: return "socketio";
    case Proto::kCentrifugo: return "centrifugo";
    case Proto::kPlainWs: return "plainws";
    case Proto::kHeraldSse: return "herald-sse";
  }
  return "?";
}

const char* defaultWsPath(Proto proto) {
  switch (proto) {
    case Proto::kHerald:
    case Proto::kCentrifugo: return "/connection/websocket";
    case Proto::kSocketIo: return "/socket.io/";
    case Proto::kPlainWs: return "/";
    case Proto::kHeraldSse: return "/connection/sse";
  }
  return "/";
}

bool hasHttpPublish(Proto proto) { return proto != Proto::kSocketIo && proto != Proto::kPlainWs; }

bool nextMarker(std::string_view text, size_t* pos, Marker* out) {
  // memchr for the rare 'b', then the quotes and colon around it: much
  // faster than a general substring search on this hot path.
  const char* const begin = text.data();
  const char* const end = begin + text.size();
  const char* p = begin + std::min(*pos, text.size());
  while (p < end) {
    p = static_cast<const char*>(memchr(p, 'b', size_t(end - p)));
    if (!p) break;
    if (p > begin && p[-1] == '"' && end - p >= 4 && p[1] == '"' && p[2] == ':' && p[3] == '"') {
      size_t q = size_t(p - begin) + 4;
      if (parseNumber(text, &q, ':', &out->event) && parseNumber(text, &q, ':', &out->stream) &&
          parseNumber(text, &q, ':', &out->seq) && parseNumber(text, &q, '"', &out->sent_ns)) {
        *pos = q;
        return true;
      }
    }
    ++p;
  }
  *pos = text.size();
  return false;
}

void appendPayload(std::string* out, size_t size, const Marker& m) {
  const size_t start = out->size();
  char num[24];
  auto append_number = [&](uint64_t v) {
    auto res = std::to_chars(num, num + sizeof num, v);
    out->append(num, size_t(res.ptr - num));
  };
  out->append("{\"b\":\"");
  append_number(m.event);
  out->push_back(':');
  append_number(m.stream);
  out->push_back(':');
  append_number(m.seq);
  out->push_back(':');
  append_number(m.sent_ns);
  out->append("\",\"p\":\"");
  const size_t fixed = out->size() - start + 2;  // + the closing "}
  if (size > fixed) out->append(size - fixed, 'x');
  out->append("\"}");
}

std::string upgradePath(Proto proto, const std::string& base_path, const std::string& channel,
                        const std::string& token) {
  std::string path = base_path.empty() ? defaultWsPath(proto) : base_path;
  switch (proto) {
    case Proto::kHerald:
    case Proto::kCentrifugo:
      return path;
    case Proto::kHeraldSse:
      path += path.find('?') == std::string::npos ? "?" : "&";
      path += "channels=" + urlEncode(channel);
      if (!token.empty()) path += "&token=" + urlEncode(token);
      return path;
    case Proto::kSocketIo: {
      path += path.find('?') == std::string::npos ? "?" : "&";
      path += "EIO=4&transport=websocket";
      if (!channel.empty()) path += "&room=" + urlEncode(channel);
      return path;
    }
    case Proto::kPlainWs: {
      // The room is the path: "/" + channel, under the base path.
      std::string query;
      if (auto q = path.find('?'); q != std::string::npos) {
        query = path.substr(q);
        path.resize(q);
      }
      if (!channel.empty()) {
        if (path.empty() || path.back() != '/') path += '/';
        path += urlEncode(channel);
      }
      if (!token.empty()) {
        query += query.empty() ? '?' : '&';
        query += "token=";
        query += urlEncode(token);
      }
      return path + query;
    }
  }
  return path;
}

std::string connectCommand(uint64_t id, const std::string& token) {
  std::string out = "{\"id\":" + std::to_string(id) + ",\"connect\":{";
  if (!token.empty()) out += "\"token\":\"" + token + "\"";
  out += "}}";
  return out;
}

std::string subscribeCommand(uint64_t id, const std::string& channel) {
  return "{\"id\":" + std::to_string(id) + ",\"subscribe\":{\"channel\":\"" + channel + "\"}}";
}

void appendWsPublish(std::string* out, Proto proto, uint64_t id, const std::string& channel,
                     std::string_view payload) {
  switch (proto) {
    case Proto::kHerald:
      out->append("{\"id\":").append(std::to_string(id)).append(",\"publish\":{\"channel\":\"");
      out->append(channel).append("\",\"eventType\":\"bench\",\"payload\":");
      out->append(payload).append("}}");
      return;
    case Proto::kCentrifugo:
      out->append("{\"id\":").append(std::to_string(id)).append(",\"publish\":{\"channel\":\"");
      out->append(channel).append("\",\"data\":");
      out->append(payload).append("}}");
      return;
    case Proto::kSocketIo:
      out->append("42[\"pub\",\"").append(channel).append("\",");
      out->append(payload).append("]");
      return;
    case Proto::kPlainWs:
    case Proto::kHeraldSse:  // receive only: never asked to publish
      out->append(payload);
      return;
  }
}

void appendHttpPublishBody(std::string* out, Proto proto, const std::string& channel,
                           std::string_view payload) {
  out->append("{\"channel\":\"").append(channel).append("\",");
  if (proto == Proto::kHerald || proto == Proto::kHeraldSse) {
    out->append("\"eventType\":\"bench\",\"payload\":");
  } else {
    out->append("\"data\":");
  }
  out->append(payload).append("}");
}

}  // namespace herald::bench
