#include "server/server.h"

#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <thread>

#include "auth/jwt.h"
#include "broker/memory/memory_broker.h"
#include "core/hub.h"
#include "core/node.h"
#include "http/http_connection.h"
#include "log/log.h"
#include "metrics/metrics.h"
#include "net/tls_context.h"
#include "net/worker.h"
#include "server/jwks_refresher.h"
#include "server/native_endpoint.h"
#include "sse/sse_endpoint.h"
#include "server/router.h"
#include "server/verifiers.h"

namespace herald::server {

namespace {

// The worker's first listener is the client port (the API port, if any,
// comes second).
constexpr size_t kClientListener = 0;

std::shared_ptr<const net::TlsContext> loadTls(const config::Tls& tls) {
  if (tls.cert_file.empty()) return nullptr;
  std::string error;
  auto context = net::TlsContext::load(tls.cert_file, tls.key_file, &error);
  if (!context) throw std::runtime_error("[tls]: " + error);
  return context;
}

}  // namespace

struct Server::Parts {
  explicit Parts(const config::Config& c) : config(c) {}
  const config::Config& config;
  std::unique_ptr<broker::Broker> broker;
  std::unique_ptr<core::Node> node;
  std::unique_ptr<JwksRefresher> jwks_refresher;  // after node: stops before it goes
  std::vector<std::unique_ptr<metrics::WorkerMetrics>> metrics;
  std::vector<const metrics::WorkerMetrics*> all_metrics;
  std::vector<std::unique_ptr<core::Hub>> hubs;
  std::vector<std::unique_ptr<Router>> routers;
  std::vector<std::unique_ptr<Router>> api_routers;  // with a separate [api] port
  http::HttpLimits http_limits;
  // Last, so destroyed first: connections refer to hubs and routers.
  std::vector<std::unique_ptr<net::Worker>> workers;
};

Server::Server(const config::Config& config) : parts_(std::make_unique<Parts>(config)) {}

Server::~Server() {
  if (!parts_) return;
  for (auto& w : parts_->workers) w->stop();
  for (auto& w : parts_->workers) w->join();
  detachBroker();
}

// The workers have stopped: what sessions do as they are destroyed with
// them (leave presence) must not post to loops that are going away.
// SIGHUP: new handshakes get the certificate and key as the files are now;
// open connections keep the context they were accepted with. A file that
// does not load leaves everything as it was.
void Server::reloadTls() {
  const config::Tls& files = parts_->config.tls;
  if (files.cert_file.empty()) {
    spdlog::info("SIGHUP: no [tls] configured, nothing to reload");
    return;
  }
  std::string error;
  std::shared_ptr<const net::TlsContext> context = net::TlsContext::load(files.cert_file, files.key_file, &error);
  if (!context) {
    spdlog::error("SIGHUP: TLS reload failed, keeping the current certificate: {}", error);
    return;
  }
  for (auto& w : parts_->workers) {
    net::Worker* worker = w.get();
    worker->post([worker, context] { worker->setTls(kClientListener, context); });
  }
  spdlog::info("SIGHUP: TLS certificate {} reloaded", files.cert_file);
}

void Server::detachBroker() {
  if (parts_->broker) parts_->broker->detach();
}

int Server::run() {
  Parts& p = *parts_;
  const config::Config& cfg = p.config;
  unsigned n = cfg.server.workers ? cfg.server.workers : std::max(1u, std::thread::hardware_concurrency());
  if (n > 64) n = 64;  // cores beyond 64 (config caps explicit values)
  if (cfg.engine.type != "memory") {
    throw std::runtime_error("[engine] type \"" + cfg.engine.type + "\" is not available yet (only \"memory\")");
  }
  // A certificate that does not load stops the start: serving plaintext
  // where TLS was asked for would be worse than not serving.
  std::shared_ptr<const net::TlsContext> tls = loadTls(cfg.tls);
  const bool api_apart = cfg.api.port != 0;
  p.broker = std::make_unique<broker::MemoryBroker>(cfg.engine.idempotency_window);
  // A jwks_url that cannot be fetched now fails the start: serving with no
  // keys would refuse every client for as long as the URL stays down.
  auth::VerifierConfig vc = verifierConfig(cfg.auth);
  p.node = std::make_unique<core::Node>(cfg, *p.broker, makeVerifier(vc));
  if (!cfg.auth.jwks_url.empty()) {
    p.jwks_refresher = std::make_unique<JwksRefresher>(*p.node, cfg.auth.jwks_url,
                                                       cfg.auth.jwks_refresh_interval, std::move(vc));
  }
  core::Hub::setEncoder(core::WireFormat::kWebSocketJson, &NativeEndpoint::encodePush);
  core::Hub::setEncoder(core::WireFormat::kSse, &sse::SseEndpoint::encodePush);

  p.http_limits.parser.max_header_bytes = cfg.limits.max_header_bytes;
  p.http_limits.parser.max_request_line = std::min<size_t>(8 * 1024, cfg.limits.max_header_bytes);
  p.http_limits.parser.max_body_bytes = cfg.limits.max_request_bytes;
  p.http_limits.request_timeout_ms = static_cast<int64_t>(cfg.limits.handshake_timeout * 1000);

  net::WorkerLimits wl;
  wl.max_queue_bytes = cfg.limits.max_queue_bytes;
  wl.max_flush_delay_ns = static_cast<int64_t>(cfg.server.max_flush_delay * 1e9);
  for (unsigned i = 0; i < n; ++i) {
    p.metrics.push_back(std::make_unique<metrics::WorkerMetrics>());
    p.all_metrics.push_back(p.metrics.back().get());
    p.workers.push_back(std::make_unique<net::Worker>(i, wl));
    p.hubs.push_back(std::make_unique<core::Hub>(*p.node, *p.workers[i], *p.metrics[i]));
    p.node->addHub(p.hubs[i].get());
    p.routers.push_back(std::make_unique<Router>(*p.hubs[i], p.all_metrics,
                                                 api_apart ? Router::Role::kClient : Router::Role::kAll));
    if (api_apart) {
      p.api_routers.push_back(std::make_unique<Router>(*p.hubs[i], p.all_metrics, Router::Role::kApi));
    }
  }

  std::vector<broker::Broker::Deliver> deliver;
  for (unsigned i = 0; i < n; ++i) {
    core::Hub* hub = p.hubs[i].get();
    deliver.push_back([hub](broker::PublicationPtr pub) { hub->enqueue(std::move(pub)); });
  }
  p.broker->attach(std::move(deliver));

  // Worker 0 binds first so that port 0 (any free port) is one port for all.
  asio::ip::tcp::endpoint endpoint(asio::ip::make_address(cfg.server.address), cfg.server.port);
  asio::ip::tcp::endpoint api_endpoint;
  if (api_apart) api_endpoint = {asio::ip::make_address(cfg.api.address), cfg.api.port};
  for (unsigned i = 0; i < n; ++i) {
    net::Worker& worker = *p.workers[i];
    metrics::WorkerMetrics& m = *p.metrics[i];
    const http::HttpLimits& limits = p.http_limits;
    auto httpFactory = [&m, &limits](Router& router) {
      return [&router, &m, &limits](net::Connection& c) -> std::unique_ptr<net::ConnectionHandler> {
        m.accepted.inc();
        return std::make_unique<http::HttpConnection>(c, router, limits, m);
      };
    };
    worker.listen(endpoint, httpFactory(*p.routers[i]), tls);
    if (i == 0) endpoint.port(worker.port(kClientListener));
    // The API port stays plaintext: it belongs on a private interface.
    if (api_apart) worker.listen(api_endpoint, httpFactory(*p.api_routers[i]));
    core::Hub* hub = p.hubs[i].get();
    worker.setTickHook([hub](int64_t now_ms) { hub->tick(now_ms); });
  }
  // Signals are caught before any worker serves: a SIGTERM right after the
  // port answers must shut down cleanly, not kill the process.
  asio::io_context main_io;
  asio::signal_set signals(main_io, SIGINT, SIGTERM);
  int signal_number = 0;
  signals.async_wait([&](const std::error_code& ec, int sig) {
    if (!ec) signal_number = sig;
    main_io.stop();
  });
  asio::signal_set reload(main_io, SIGHUP);
  std::function<void(const std::error_code&, int)> onHangup = [&](const std::error_code& ec, int) {
    if (ec) return;
    reloadTls();
    reload.async_wait(onHangup);
  };
  reload.async_wait(onHangup);
  for (auto& w : p.workers) w->start();
  for (unsigned i = 0; i < n; ++i) p.workers[i]->post([i] { log::setWorker(static_cast<int>(i)); });
  spdlog::info("herald {} listening on {}:{}{} with {} workers, engine {}", HERALD_VERSION,
               cfg.server.address, endpoint.port(), tls ? " (TLS)" : "", n, cfg.engine.type);
  if (api_apart) spdlog::info("server API and /metrics on {}:{}", cfg.api.address, cfg.api.port);

  main_io.run();

  spdlog::info("signal {}: shutting down, telling {} clients", signal_number,
               [&] { size_t c = 0; for (auto& w : p.workers) c += w->numConnections(); return c; }());
  for (auto& w : p.workers) {
    net::Worker* worker = w.get();
    worker->post([worker] { worker->beginShutdown(); });
  }
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(static_cast<int64_t>(cfg.server.shutdown_timeout * 1000));
  while (std::chrono::steady_clock::now() < deadline) {
    size_t open = 0;
    for (auto& w : p.workers) open += w->numConnections();
    if (open == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (auto& w : p.workers) w->stop();
  for (auto& w : p.workers) w->join();
  detachBroker();
  spdlog::info("stopped");
  return 0;
}

}  // namespace herald::server
