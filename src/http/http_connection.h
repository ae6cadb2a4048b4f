// HttpConnection: the first handler of every connection. Parses HTTP/1.1
// requests (keep-alive, pipelining, any segmentation) and hands each to a
// Router, which answers it now, later (defer), or takes the connection over
// (WebSocket upgrade, SSE stream). Requests are answered in order. Bad
// requests get their 4xx and the connection is closed. Lives on its worker's
// thread, owned by its net::Connection.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "http/request_parser.h"
#include "metrics/metrics.h"
#include "net/connection.h"

namespace herald::http {

class HttpConnection;

class Router {
 public:
  virtual ~Router() = default;
  // Must answer by exactly one of: conn.respond(), conn.defer() (then call
  // the returned function once), or conn.upgrade().
  virtual void route(const Request& request, HttpConnection& conn) = 0;
};

struct HttpLimits {
  ParserLimits parser;
  int64_t request_timeout_ms = 10000;     // to receive a whole request
  int64_t keepalive_timeout_ms = 60000;   // idle between requests
};

class HttpConnection : public net::ConnectionHandler {
 public:
  HttpConnection(net::Connection& conn, Router& router, const HttpLimits& limits,
                 metrics::WorkerMetrics& metrics);
  ~HttpConnection() override;

  // Sends a complete response. keep_alive = false closes after it.
  void respond(std::string response, bool keep_alive);
  // Returns a function to call once with the complete response, from this
  // worker's thread; harmless if the connection has gone meanwhile.
  std::function<void(std::string response, bool keep_alive)> defer();
  // Hands the connection to `handler`; bytes after the request go to it.
  void upgrade(std::unique_ptr<net::ConnectionHandler> handler);

  net::Connection& connection() { return conn_; }
  // When the request being routed began: accept time for the first request
  // of a connection, so a handshake deadline after an upgrade counts from
  // the accept.
  int64_t requestStartedMs() const { return request_started_ms_; }

  void onData(char* data, size_t len) override;
  void onTick(int64_t now_ms) override;
  void onShutdown() override;
  void onTlsFailure(net::TlsFailure why) override;

 private:
  void process(char* data, size_t len);
  void fail(const ParseResult& result);

  net::Connection& conn_;
  Router& router_;
  const HttpLimits& limits_;
  metrics::WorkerMetrics& metrics_;
  RequestParser parser_;
  std::string buffer_;           // unparsed input (partial or pipelined)
  std::string_view rest_;        // bytes after the request being routed
  int64_t request_started_ms_;   // first byte of the current request
  bool waiting_ = false;         // a deferred response is outstanding
  bool done_ = false;            // closed, upgraded, or closing
  bool served_any_ = false;
  bool in_process_ = false;      // inside process(): no re-entry
  std::shared_ptr<bool> alive_;  // observed by deferred responders
};

}  // namespace herald::http
