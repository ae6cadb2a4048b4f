#include "server/router.h"

#include <openssl/crypto.h>

#include <chrono>

#include "base/clock.h"
#include "api/api_handler.h"
#include "config/config.h"
#include "core/channel.h"
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
  const config::Sse& sse = hub.node().config().sse;
  sse_options_.heartbeat_ms = static_cast<int64_t>(sse.heartbeat_interval * 1000);
  sse_options_.retry_ms = static_cast<int64_t>(sse.retry * 1000);
}

void Router::route(const http::Request& request, http::HttpConnection& conn) {
  std::string_view path = request.path;
  std::string response;
  if (client_endpoints_) {
    if (path == "/connection/websocket") return upgradeWebSocket(request, conn, false);
    if (path == "/connection/sse") return serveSse(request, conn);
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
  gauges.uptime_seconds = static_cast<uint64_t>((base::wallNowMs() - hub_.node().startedMs()) / 1000);
  for (size_t op = 0; op < static_cast<size_t>(broker::Operation::kCount); ++op) {
    gauges.broker_operations.emplace_back(broker::kOperationNames[op],
                                          hub_.node().broker().operations(static_cast<broker::Operation>(op)));
  }
  std::string response;
  http::appendResponse(&response, 200, "text/plain; version=0.0.4; charset=utf-8",
                       metrics::renderPrometheus(all_metrics_, gauges), close);
  return response;
}

// WebSocket and SSE follow the same Origin rule; true if this request was
// refused (403 JSON, counted).
bool Router::refusedOrigin(const http::Request& request, http::HttpConnection& conn) {
  if (http::originAllowed(request, hub_.node().config().server)) return false;
  hub_.metrics().reject(metrics::Rejection::kOrigin);
  conn.respond(http::originRefusedResponse(), false);
  return true;
}

void Router::upgradeWebSocket(const http::Request& request, http::HttpConnection& conn, bool echo) {
  if (refusedOrigin(request, conn)) return;
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

// GET /connection/sse?channels=a,b[&token=T][&lastEventId=C]: see
// sse/sse_endpoint.h and docs/sse.md.
void Router::serveSse(const http::Request& request, http::HttpConnection& conn) {
  std::string response;
  const bool keep_alive = request.keep_alive;
  auto refuse = [&](int status, int code, std::string_view message) {
    hub_.metrics().reject(metrics::Rejection::kBadCommand);
    http::appendJsonError(&response, status, code, message, !keep_alive);
    conn.respond(std::move(response), keep_alive);
  };
  // The same Origin rule as a WebSocket upgrade: a page from an origin not
  // on the list can neither open nor preflight a stream.
  if (refusedOrigin(request, conn)) return;
  // CORS: EventSource sends no custom headers, so browsers do not preflight
  // it; a polyfill that sends Authorization does, and gets its answer here.
  std::string cors;
  if (std::string_view origin = request.header("origin"); !origin.empty()) {
    cors.append("Access-Control-Allow-Origin: ").append(origin);
    cors.append("\r\nAccess-Control-Allow-Credentials: true\r\nVary: Origin\r\n");
  }
  if (request.method == "OPTIONS") {
    cors.append("Access-Control-Allow-Methods: GET\r\n"
                "Access-Control-Allow-Headers: Authorization, Last-Event-ID, Cache-Control\r\n"
                "Access-Control-Max-Age: 600\r\n");
    http::appendResponse(&response, 204, {}, {}, !keep_alive, cors);
    return conn.respond(std::move(response), keep_alive);
  }
  if (request.method != "GET") return refuse(405, 107, "use GET");

  sse::StreamRequest stream;
  std::string channels;
  if (!http::percentDecode(request.queryParam("channels"), &channels) ||
      !http::percentDecode(request.queryParam("token"), &stream.token)) {
    return refuse(400, 107, "malformed query string");
  }
  if (stream.token.empty()) stream.token = http::bearerToken(request);
  // Each channel once, in the order given; an empty name ("a,,b", "a,") is
  // a mistake in the URL, not a wildcard.
  auto add = [&stream](std::string_view channel) {
    if (!core::validChannelName(channel)) return false;
    if (std::find(stream.channels.begin(), stream.channels.end(), channel) == stream.channels.end()) {
      stream.channels.emplace_back(channel);
    }
    return true;
  };
  std::string_view rest = channels;
  for (bool more = !rest.empty(); more;) {
    size_t comma = rest.find(',');
    more = comma != std::string_view::npos;
    if (!add(rest.substr(0, comma))) return refuse(400, 102, "invalid channel name");
    if (more) rest.remove_prefix(comma + 1);
  }
  // In `channels` a comma always separates; a user-limited channel with
  // several users ("dm:#42,43") comes whole in a `channel` parameter.
  std::string one;
  for (std::string_view raw : request.queryParams("channel")) {
    if (!http::percentDecode(raw, &one)) return refuse(400, 107, "malformed query string");
    if (!add(one)) return refuse(400, 102, "invalid channel name");
  }
  if (stream.channels.empty()) return refuse(400, 107, "channels required");
  if (stream.channels.size() > hub_.node().config().limits.max_channels_per_connection) {
    return refuse(400, 106, "too many channels");
  }
  // The browser sends Last-Event-ID itself; the query form is for clients
  // that cannot set headers on their first request (polyfills, links).
  stream.last_event_id = request.header("last-event-id");
  if (stream.last_event_id.empty() &&
      !http::percentDecode(request.queryParam("lastEventId"), &stream.last_event_id)) {
    return refuse(400, 107, "malformed query string");
  }
  stream.extra_headers = std::move(cors);

  net::Connection& c = conn.connection();
  auto endpoint = std::make_unique<sse::SseEndpoint>(hub_, c, conn.requestStartedMs(), sse_options_,
                                                     std::move(stream));
  sse::SseEndpoint* started = endpoint.get();
  conn.upgrade(std::move(endpoint));
  started->start();
}

}  // namespace herald::server
