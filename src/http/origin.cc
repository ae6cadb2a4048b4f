#include "http/origin.h"

#include "http/response.h"

namespace herald::http {

namespace {
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
}  // namespace

// Iterative glob with one backtrack point (the last '*'): linear in
// practice and never recursive, whatever the pattern.
bool originMatches(std::string_view pattern, std::string_view origin) {
  size_t p = 0, o = 0;
  size_t star = std::string_view::npos, resume = 0;
  while (o < origin.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = o;
    } else if (p < pattern.size() && lower(pattern[p]) == lower(origin[o])) {
      ++p;
      ++o;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      o = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool originAllowed(const Request& request, const config::Server& server) {
  std::string_view origin = request.header("origin");
  if (origin.empty()) return server.allow_missing_origin;
  if (server.allowed_origins.empty()) return true;
  for (const std::string& pattern : server.allowed_origins) {
    if (originMatches(pattern, origin)) return true;
  }
  return false;
}

std::string originRefusedResponse() {
  std::string response;
  appendJsonError(&response, 403, 103, "origin not allowed", true);
  return response;
}

}  // namespace herald::http
