#include "url.h"

#include <cstdlib>

namespace herald::bench {

bool parseUrl(const std::string& text, Url* out, std::string* error) {
  Url u;
  auto sep = text.find("://");
  if (sep == std::string::npos) {
    *error = "a URL needs a scheme (ws:// or http://): " + text;
    return false;
  }
  u.scheme = text.substr(0, sep);
  if (u.scheme != "ws" && u.scheme != "http") {
    *error = "only ws:// and http:// are supported: " + text;
    return false;
  }
  std::string rest = text.substr(sep + 3);
  auto slash = rest.find_first_of("/?");
  std::string authority = rest.substr(0, slash);
  u.path = slash == std::string::npos ? "" : rest.substr(slash);
  if (!u.path.empty() && u.path[0] == '?') u.path = "/" + u.path;
  auto colon = authority.rfind(':');
  if (colon == std::string::npos) {
    u.host = authority;
    u.port = 80;
  } else {
    u.host = authority.substr(0, colon);
    long port = strtol(authority.c_str() + colon + 1, nullptr, 10);
    if (port <= 0 || port > 65535) {
      *error = "bad port in " + text;
      return false;
    }
    u.port = uint16_t(port);
  }
  if (u.host.size() > 2 && u.host.front() == '[' && u.host.back() == ']') u.host = u.host.substr(1, u.host.size() - 2);
  u.ip = u.host == "localhost" ? "127.0.0.1" : u.host;
  if (u.host.empty()) {
    *error = "no host in " + text;
    return false;
  }
  *out = u;
  return true;
}

}  // namespace herald::bench
