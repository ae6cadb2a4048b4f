#include "server/router.h"

#include <openssl/crypto.h>

#include <chrono>

#include "api/api_handler.h"
#include "config/config.h"
#include "core/hub.h"
#include "core/node.h"
#include "http/origin.h"
#include "http/response.h"
#include "log/log.h"
#include "net/worker.h"
#include "server/echo_endpoint.h"
#include "server/native_endpoint.h"
#include "ws/handshake.h"

namespace herald::server {

namespace {
constexpr std::string_view kJson = "application/json";

// Constant time, so the key cannot be guessed byte by byte from timings.
bool keyMatches(std::string_view given, const std::string& expected) {
  if (expected.empty() || given.size() != expected.size()) return false;
  return CRYPTO_memcmp(given.data(), expected.data(), expected.size()) == 0;
}
}  // namespace

Router::Router(core::Hub& hub, const std::vector<const metrics::WorkerMetrics*>& all_metrics,
               Role role)
    : hub_(hub),
      all_metrics_(all_metrics),
      client_endpoints_(role != Role::kApi),
      api_endpoints_(role != Role::kClient) {
  const config::Limits& limits = hub.node().config().limits;
  native_options_.max_message_bytes = limits.max_message_bytes;
  native_options_.ping_interval_ms = static_cast<int64_t>(limits.ping_interval * 1000);
  native_options_.pong_timeout_ms = static_cast<int64_t>(limits.pong_timeout * 1000);
  // Pushes are prepared once for all subscribers, so they go out
  // uncompressed; compressed client messages are still accepted.
  native_options_.compress_outgoing = false;
  echo_options_ = native_options_;
  echo_options_.compress_outgoing = true;
}

void Router::route(const http::Request& request, http::HttpConnection& conn) {
  std::string_view path = request.path;
  std::string response;
  if (client_endpoints_) {
    if (path == "/connection/websocket") return upgradeWebSocket(request, conn, false);
    if (path == "/echo" && hub_.node().config().testing.echo) return upgradeWebSocket(request, conn, true);
  }
  if (api_endpoints_ && path.starts_with("/api/")) return serveApi(request, conn);
  if (path == "/health") {
    http::appendResponse(&response, 200, kJson, R"({"status":"ok"})", !request.keep_alive);
  } else if (path == "/ready") {
    // Ready: listening (this answer proves it) and the engine reachable
    // (the memory engine always is); not while shutting down, so a load
    // balancer stops sending new clients before they would be refused.
    if (hub_.worker().shuttingDown()) {
      http::appendResponse(&response, 503, kJson, R"({"status":"shutting down"})", !request.keep_alive);
    } else {
      http::appendResponse(&response, 200, kJson, R"({"status":"ready"})", !request.keep_alive);
    }
  } else if (api_endpoints_ && path == "/metrics") {
    response = renderMetrics(!request.keep_alive);
  } else {
    http::appendJsonError(&response, 404, 104, "not found", !request.keep_alive);
  }
  conn.respond(std::move(response), request.keep_alive);
}

std::string Router::renderMetrics(bool close) {
  metrics::NodeGauges gauges;
  gauges.channels = hub_.node().broker().numChannels();
  int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  gauges.uptime_seconds = static_cast<uint64_t>((now_ms - hub_.node().startedMs()) / 1000);
  std::string response;
  http::appendResponse(&response, 200, "text/plain; version=0.0.4; charset=utf-8",
                       metrics::renderPrometheus(all_metrics_, gauges), close);
  return response;
}

void Router::upgradeWebSocket(const http::Request& request, http::HttpConnection& conn, bool echo) {
  if (!http::originAllowed(request, hub_.node().config().server)) {
    hub_.metrics().reject(metrics::Rejection::kOrigin);
    return conn.respond(http::originRefusedResponse(), false);
  }
  ws::HandshakeResult hs = ws::acceptHandshake(request, true);
  if (hs.status != 101) {
    hub_.metrics().reject(metrics::Rejection::kWsHandshake);
    return conn.respond(std::move(hs.response), false);
  }
  net::Connection& c = conn.connection();
  c.send(net::Bytes::copyOf(hs.response));
  ws::WebSocketOptions options = echo ? echo_options_ : native_options_;
  options.deflate = hs.deflate;
  auto wsconn = std::make_unique<ws::WebSocketConnection>(c, options, hub_.metrics());
  if (echo) {
    wsconn->setEndpoint(std::make_unique<EchoEndpoint>());
  } else {
    wsconn->setEndpoint(std::make_unique<NativeEndpoint>(hub_, c, conn.requestStartedMs()));
  }
  conn.upgrade(std::move(wsconn));
}

void Router::serveApi(const http::Request& request, http::HttpConnection& conn) {
  std::string response;
  bool keep_alive = request.keep_alive;
  const bool access_log = hub_.node().config().log.api_access;
  const auto started = std::chrono::steady_clock::now();
  net::Connection& c = conn.connection();
  // The request's views die with this call; the log line may come later.
  auto logAccess = [id = c.id(), ip = access_log ? c.remoteIp() : std::string(), started,
                    method = access_log ? std::string(request.path.substr(5)) : std::string()](int status) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
    log::conn(spdlog::level::info, id, "api {} {} {}us from {}", method, status, us.count(), ip);
  };
  if (request.method != "POST") {
    http::appendJsonError(&response, 405, 107, "use POST", !keep_alive);
    if (access_log) logAccess(405);
    return conn.respond(std::move(response), keep_alive);
  }
  if (!keyMatches(request.header("x-api-key"), hub_.node().config().api.key)) {
    hub_.metrics().reject(metrics::Rejection::kUnauthorized);
    http::appendJsonError(&response, 401, 101, "unauthorized", !keep_alive);
    if (access_log) logAccess(401);
    return conn.respond(std::move(response), keep_alive);
  }
  hub_.metrics().api_requests.inc();
  auto respond = conn.defer();
  // Answered on this worker's thread (the API hands results back to it), so
  // the histogram keeps a single writer.
  auto done = [respond, keep_alive, started, &metrics = hub_.metrics()](int status, std::string body) {
    metrics.api_latency.observe(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started)
            .count()));
    std::string out;
    http::appendResponse(&out, status, kJson, body, !keep_alive);
    respond(std::move(out), keep_alive);
  };
  if (!access_log) return api::handle(hub_, request.path.substr(5), request.body, std::move(done));
  api::handle(hub_, request.path.substr(5), request.body,
              [done = std::move(done), logAccess = std::move(logAccess)](int status, std::string body) {
                logAccess(status);
                done(status, std::move(body));
              });
}

}  // namespace herald::server
