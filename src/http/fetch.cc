#include "http/fetch.h"

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl.hpp>
#include <asio/write.hpp>
#include <chrono>

namespace herald::http {
namespace {

struct Url {
  bool tls = false;
  std::string host;
  std::string port;
  std::string target;  // path and query, at least "/"
};

bool parseUrl(std::string_view url, Url* out) {
  if (url.starts_with("https://")) {
    out->tls = true;
    url.remove_prefix(8);
  } else if (url.starts_with("http://")) {
    url.remove_prefix(7);
  } else {
    return false;
  }
  const size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  out->target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  // "[::1]:8080", "host:8080", "host"
  size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']', colon) != std::string_view::npos) {
    colon = std::string_view::npos;
  }
  out->port = colon == std::string_view::npos ? (out->tls ? "443" : "80")
                                              : std::string(authority.substr(colon + 1));
  std::string_view host = authority.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  out->host = host;
  return !out->host.empty() && !out->port.empty();
}

// Verifies servers against the system CA store (OpenSSL's default paths,
// which SSL_CERT_FILE and SSL_CERT_DIR override).
asio::ssl::context clientContext() {
  asio::ssl::context tls(asio::ssl::context::tls_client);
  tls.set_default_verify_paths();
  tls.set_verify_mode(asio::ssl::verify_peer);
  return tls;
}

// One GET as a chain of callbacks on a private io_context (no coroutines:
// the fuzz build's clang cannot use them with this standard library). The
// request is HTTP/1.0: the server closes when done and sends no chunked
// encoding, so reading to EOF is the framing. Members are destroyed in
// reverse: the stream and resolver before the io_context they belong to; a
// handler still pending at a timeout is destroyed with it, never called.
class Fetch {
 public:
  Fetch(const Url& url, size_t max_bytes) : url_(url), max_bytes_(max_bytes) {}

  // Runs the exchange for at most `timeout_s`; "" or why it failed.
  std::string run(double timeout_s, std::string* response) {
    response_ = response;
    resolver_.async_resolve(url_.host, url_.port, [this](const std::error_code& ec, auto endpoints) {
      if (ec) return fail("resolve", ec);
      asio::async_connect(stream_.next_layer(), endpoints,
                          [this](const std::error_code& ec, const auto&) { connected(ec); });
    });
    io_.run_for(std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000)));
    return done_ ? error_ : "timed out";
  }

 private:
  void connected(const std::error_code& ec) {
    if (ec) return fail("connect", ec);
    if (!url_.tls) return send();
    stream_.set_verify_callback(asio::ssl::host_name_verification(url_.host));
    SSL_set_tlsext_host_name(stream_.native_handle(), url_.host.c_str());  // SNI
    stream_.async_handshake(asio::ssl::stream_base::client, [this](const std::error_code& ec) {
      if (ec) return fail("TLS handshake", ec);
      send();
    });
  }

  void send() {
    request_ = "GET " + url_.target + " HTTP/1.0\r\nHost: " + url_.host +
               "\r\nAccept: application/json\r\nUser-Agent: herald\r\n\r\n";
    auto sent = [this](const std::error_code& ec, size_t) {
      if (ec) return fail("write", ec);
      read();
    };
    if (url_.tls) {
      asio::async_write(stream_, asio::buffer(request_), sent);
    } else {
      asio::async_write(stream_.next_layer(), asio::buffer(request_), sent);
    }
  }

  void read() {
    auto got = [this](const std::error_code& ec, size_t n) {
      response_->append(buffer_, n);
      // Many TLS servers close without close_notify; the body's end is still EOF.
      if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) return finish("");
      if (ec) return fail("read", ec);
      if (response_->size() > max_bytes_ + sizeof buffer_) return finish("response too large");
      read();
    };
    if (url_.tls) {
      stream_.async_read_some(asio::buffer(buffer_), got);
    } else {
      stream_.next_layer().async_read_some(asio::buffer(buffer_), got);
    }
  }

  void fail(const char* step, const std::error_code& ec) { finish(std::string(step) + ": " + ec.message()); }
  void finish(std::string error) {
    done_ = true;
    error_ = std::move(error);
  }

  const Url& url_;
  const size_t max_bytes_;
  std::string* response_ = nullptr;
  std::string request_;
  std::string error_;
  bool done_ = false;
  char buffer_[16 * 1024];
  asio::io_context io_;
  asio::ssl::context tls_ = clientContext();
  asio::ip::tcp::resolver resolver_{io_};
  asio::ssl::stream<asio::ip::tcp::socket> stream_{io_, tls_};
};

// Status line and headers off, the body checked: 200 only, size bounded.
void takeBody(const std::string& response, size_t max_bytes, FetchResult* out) {
  const size_t head_end = response.find("\r\n\r\n");
  if (!response.starts_with("HTTP/1.") || head_end == std::string::npos || response.size() < 12) {
    out->error = "not an HTTP response";
    return;
  }
  const std::string_view status(response.data() + 9, 3);
  if (status != "200") {
    out->error = "HTTP " + std::string(status);
    return;
  }
  if (response.size() - head_end - 4 > max_bytes) {
    out->error = "body over " + std::to_string(max_bytes) + " bytes";
    return;
  }
  out->body = response.substr(head_end + 4);
  out->ok = true;
}

}  // namespace

FetchResult fetchUrl(std::string_view url, double timeout_s, size_t max_bytes) {
  FetchResult result;
  Url parsed;
  if (!parseUrl(url, &parsed)) {
    result.error = "not an http:// or https:// URL";
    return result;
  }
  std::string response;
  result.error = Fetch(parsed, max_bytes).run(timeout_s, &response);
  if (!result.error.empty()) return result;
  takeBody(response, max_bytes, &result);
  return result;
}

}  // namespace herald::http
