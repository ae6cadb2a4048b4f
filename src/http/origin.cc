#include "http/origin.h"

#include "auth/glob.h"
#include "http/response.h"

namespace herald::http {

bool originMatches(std::string_view pattern, std::string_view origin) {
  return auth::globMatch(pattern, origin, /*ignore_ascii_case=*/true);
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
