// Router: what each HTTP path of the client port does (DESIGN.md "HTTP
// endpoints"). One per worker; it upgrades WebSocket requests to the native
// protocol (or echo), turns SSE requests into streams, serves health and
// metrics, and passes /api/* to the API handler after checking the key.
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
  Router(core::Hub& hub, const std::vector<const metrics::WorkerMetrics*>& all_metrics);

  void route(const http::Request& request, http::HttpConnection& conn) override;

 private:
  void upgradeWebSocket(const http::Request& request, http::HttpConnection& conn, bool echo);
  void serveApi(const http::Request& request, http::HttpConnection& conn);
  void serveSse(const http::Request& request, http::HttpConnection& conn);

  core::Hub& hub_;
  const std::vector<const metrics::WorkerMetrics*>& all_metrics_;
  ws::WebSocketOptions native_options_;
  ws::WebSocketOptions echo_options_;
  sse::StreamOptions sse_options_;
};

}  // namespace herald::server
