// Lookups on a parsed Request. Linear scans on purpose: a request has a
// handful of headers and query parameters, so a map would cost more than it saves.
#include "http/request.h"

#include "base/ascii.h"

namespace herald::http {

using base::equalsIgnoreCase;
using base::trimOws;

std::string_view Request::header(std::string_view name) const {
  for (size_t i = 0; i < num_headers; ++i) {
    if (equalsIgnoreCase(headers[i].name, name)) return headers[i].value;
  }
  return {};
}

bool Request::headerHasToken(std::string_view name, std::string_view token) const {
  // A list-valued header may be split over several lines (RFC 9110 5.3), so
  // every occurrence is searched, not only the first.
  for (size_t i = 0; i < num_headers; ++i) {
    if (!equalsIgnoreCase(headers[i].name, name)) continue;
    std::string_view rest = headers[i].value;
    while (true) {
      size_t comma = rest.find(',');
      if (equalsIgnoreCase(trimOws(rest.substr(0, comma)), token)) return true;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return false;
}

namespace {
// Calls fn(value) for each `name=value` pair of the query until it returns false.
template <typename Fn>
void scanQuery(std::string_view query, std::string_view name, Fn fn) {
  std::string_view rest = query;
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name && !fn(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1))) {
      return;
    }
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
}
}  // namespace

std::string_view Request::queryParam(std::string_view name) const {
  std::string_view found;
  scanQuery(query, name, [&](std::string_view value) {
    found = value;
    return false;
  });
  return found;
}

std::vector<std::string_view> Request::queryParams(std::string_view name) const {
  std::vector<std::string_view> values;
  scanQuery(query, name, [&](std::string_view value) {
    values.push_back(value);
    return true;
  });
  return values;
}

bool percentDecode(std::string_view in, std::string* out) {
  out->clear();
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    c = base::asciiLower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
  };
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+') {
      out->push_back(' ');
    } else if (c != '%') {
      out->push_back(c);
    } else {
      int hi = i + 2 < in.size() ? hex(in[i + 1]) : -1;
      int lo = hi >= 0 ? hex(in[i + 2]) : -1;
      if (lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    }
  }
  return true;
}

std::string_view bearerToken(const Request& request) {
  std::string_view value = trimOws(request.header("authorization"));
  constexpr std::string_view kScheme = "bearer ";
  if (value.size() <= kScheme.size() || !equalsIgnoreCase(value.substr(0, kScheme.size()), kScheme)) return {};
  return trimOws(value.substr(kScheme.size()));
}

}  // namespace herald::http
