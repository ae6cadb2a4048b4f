// Router: what each HTTP path of the client port does (DESIGN.md "HTTP
// endpoints"). One per worker; it upgrades WebSocket requests to the native
// protocol (or echo), turns SSE requests into streams, serves health and
// metrics, and passes /api/* to the API handler after checking the key. With
// a separate API listener ([api] port) each listener has its own Router: the
// client port's serves no /api/* or /metrics, the API port's serves only
// those (and the probes).
// Worker thread only.
#pragma once

#include <vector>

#include "http/http_connection.h"
#include "metrics/metrics.h"
#include "sse/sse_endpoint.h"
#include "ws/ws_connection.h"

namespace herald::core {
class Hub;
}

namespace herald::server {

class Router : public http::Router {
 public:
  // Which endpoints a listener serves.
  enum class Role : uint8_t {
    kAll,     // the client port when the API has no port of its own
    kClient,  // the client port beside a separate API listener
    kApi,     // the separate API listener: /api/*, /metrics, /health, /ready
  };

  Router(core::Hub& hub, const std::vector<const metrics::WorkerMetrics*>& all_metrics,
         Role role = Role::kAll);

  void route(const http::Request& request, http::HttpConnection& conn) override;

 private:
  void upgradeWebSocket(const http::Request& request, http::HttpConnection& conn, bool echo);
  void serveApi(const http::Request& request, http::HttpConnection& conn);
  void serveSse(const http::Request& request, http::HttpConnection& conn);
  bool refusedOrigin(const http::Request& request, http::HttpConnection& conn);
  std::string renderMetrics(bool close);

  core::Hub& hub_;
  const std::vector<const metrics::WorkerMetrics*>& all_metrics_;
  ws::WebSocketOptions native_options_;
  ws::WebSocketOptions echo_options_;
  sse::StreamOptions sse_options_;
  const bool client_endpoints_;  // WebSocket, echo
  const bool api_endpoints_;     // /api/*, /metrics
};

}  // namespace herald::server
