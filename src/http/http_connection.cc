#include "http/http_connection.h"

#include "http/response.h"
#include "log/log.h"
#include "net/worker.h"

namespace herald::http {

HttpConnection::HttpConnection(net::Connection& conn, Router& router, const HttpLimits& limits,
                               metrics::WorkerMetrics& metrics)
    : conn_(conn),
      router_(router),
      limits_(limits),
      metrics_(metrics),
      parser_(limits.parser),
      request_started_ms_(conn.acceptedAtMs()),
      alive_(std::make_shared<bool>(true)) {
  metrics_.connections[static_cast<size_t>(metrics::Transport::kHttp)].add(1);
}

HttpConnection::~HttpConnection() {
  *alive_ = false;
  metrics_.connections[static_cast<size_t>(metrics::Transport::kHttp)].add(-1);
}

void HttpConnection::onData(char* data, size_t len) {
  metrics_.bytes_in.inc(len);
  if (done_) return;
  // The first request's clock runs from the accept (and the TLS handshake
  // before it), so a client cannot stretch its handshake by waiting before
  // its first byte; later requests' clocks start at their first byte.
  if (buffer_.empty() && !waiting_ && served_any_) request_started_ms_ = conn_.worker().nowMs();
  if (!buffer_.empty() || waiting_) {
    buffer_.append(data, len);
    if (!waiting_) process(buffer_.data(), buffer_.size());
    return;
  }
  process(data, len);
}

// Parses and routes every complete request in data[0..len). What remains
// (a partial request, or requests behind a deferred one) stays in buffer_.
void HttpConnection::process(char* data, size_t len) {
  in_process_ = true;
  size_t pos = 0;
  bool from_buffer = !buffer_.empty() && data == buffer_.data();
  while (pos < len && !done_ && !waiting_) {
    Request request;
    ParseResult r = parser_.parse(std::string_view(data + pos, len - pos), &request);
    if (r.status == ParseStatus::kIncomplete) {
      if (parser_.takeContinue()) conn_.send(net::Bytes::copyOf("HTTP/1.1 100 Continue\r\n\r\n"));
      break;
    }
    if (r.status == ParseStatus::kError) {
      in_process_ = false;
      fail(r);
      return;
    }
    parser_.reset();
    pos += r.consumed;
    served_any_ = true;
    // The router may upgrade: the handler that takes over gets the rest.
    rest_ = std::string_view(data + pos, len - pos);
    router_.route(request, *this);
    rest_ = {};
    if (done_) break;
    request_started_ms_ = conn_.worker().nowMs();
  }
  in_process_ = false;
  if (done_) return;
  if (from_buffer) {
    buffer_.erase(0, pos);
  } else {
    buffer_.assign(data + pos, len - pos);
  }
  if (buffer_.capacity() > 64 * 1024 && buffer_.size() < 1024) buffer_.shrink_to_fit();
}

void HttpConnection::fail(const ParseResult& result) {
  metrics_.reject(result.http_status == 400 || result.http_status == 501 || result.http_status == 505
                      ? metrics::Rejection::kHttpBadRequest
                      : metrics::Rejection::kHttpTooLarge);
  log::conn(spdlog::level::debug, conn_.id(), "bad HTTP request from {}: {} {}", conn_.remoteIp(),
            result.http_status, result.reason);
  std::string response;
  // Protocol error codes (DESIGN.md): 111 message too large, 107 bad request.
  int code = result.http_status == 413 ? 111 : 107;
  appendJsonError(&response, result.http_status, code, result.reason, true);
  respond(std::move(response), false);
}

void HttpConnection::respond(std::string response, bool keep_alive) {
  if (done_) return;
  waiting_ = false;
  metrics_.bytes_out.inc(response.size());
  conn_.send(net::Bytes::copyOf(response));
  if (!keep_alive) {
    done_ = true;
    conn_.closeAfterFlush();
  }
}

std::function<void(std::string, bool)> HttpConnection::defer() {
  waiting_ = true;
  std::weak_ptr<bool> alive = alive_;
  return [this, alive](std::string response, bool keep_alive) {
    auto token = alive.lock();
    if (!token || !*token) return;
    respond(std::move(response), keep_alive);
    // Answered later: go on with requests that queued up behind this one.
    if (!in_process_ && !done_ && !buffer_.empty()) process(buffer_.data(), buffer_.size());
  };
}

void HttpConnection::upgrade(std::unique_ptr<net::ConnectionHandler> handler) {
  done_ = true;
  std::string rest(rest_);  // copied: data may be the buffer this object owns
  net::ConnectionHandler* next = handler.get();
  conn_.setHandler(std::move(handler));  // this object is retired, not yet destroyed
  if (!rest.empty()) next->onData(rest.data(), rest.size());
}

void HttpConnection::onTick(int64_t now_ms) {
  if (done_ || waiting_) return;
  bool mid_request = !buffer_.empty() || !served_any_;
  int64_t limit = mid_request ? limits_.request_timeout_ms : limits_.keepalive_timeout_ms;
  if (now_ms - request_started_ms_ < limit) return;
  if (conn_.handshaking()) {
    // No TLS session to carry a 408 yet.
    metrics_.reject(metrics::Rejection::kTlsHandshake);
    done_ = true;
    conn_.abort();
  } else if (mid_request) {
    metrics_.reject(metrics::Rejection::kHttpTimeout);
    std::string response;
    appendJsonError(&response, 408, 107, "request not completed in time", true);
    respond(std::move(response), false);
  } else {
    done_ = true;
    conn_.closeAfterFlush(0);
  }
}

void HttpConnection::onTlsFailure(net::TlsFailure why) {
  done_ = true;
  metrics_.reject(why == net::TlsFailure::kPlaintext ? metrics::Rejection::kTlsPlaintext
                                                      : metrics::Rejection::kTlsHandshake);
  log::conn(spdlog::level::debug, conn_.id(), "TLS refused from {}: {}", conn_.remoteIp(),
            why == net::TlsFailure::kPlaintext ? "plain HTTP on the TLS port" : "handshake failed");
}

void HttpConnection::onShutdown() {
  done_ = true;
  conn_.closeAfterFlush(0);
}

}  // namespace herald::http
