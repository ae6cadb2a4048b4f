#include "http/fetch.h"

#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/redirect_error.hpp>
#include <asio/ssl.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <chrono>
#include <stdexcept>

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

// The whole response of an HTTP/1.0 request: the server closes when done and
// sends no chunked encoding, so reading to EOF is the framing.
template <class Stream>
asio::awaitable<void> exchange(Stream& stream, const Url& url, size_t max_bytes, std::string* response) {
  const std::string request = "GET " + url.target + " HTTP/1.0\r\nHost: " + url.host +
                              "\r\nAccept: application/json\r\nUser-Agent: herald\r\n\r\n";
  co_await asio::async_write(stream, asio::buffer(request), asio::use_awaitable);
  char buffer[16 * 1024];
  while (true) {
    std::error_code ec;
    size_t n = co_await stream.async_read_some(asio::buffer(buffer), asio::redirect_error(asio::use_awaitable, ec));
    response->append(buffer, n);
    // Many TLS servers close without close_notify; the body's end is still EOF.
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) co_return;
    if (ec) throw std::system_error(ec, "read");
    if (response->size() > max_bytes + 16 * 1024) throw std::runtime_error("response too large");
  }
}

asio::awaitable<void> get(const Url& url, size_t max_bytes, std::string* response) {
  auto executor = co_await asio::this_coro::executor;
  asio::ip::tcp::resolver resolver(executor);
  auto endpoints = co_await resolver.async_resolve(url.host, url.port, asio::use_awaitable);
  asio::ip::tcp::socket socket(executor);
  co_await asio::async_connect(socket, endpoints, asio::use_awaitable);
  if (!url.tls) {
    co_await exchange(socket, url, max_bytes, response);
    co_return;
  }
  asio::ssl::context tls(asio::ssl::context::tls_client);
  tls.set_default_verify_paths();
  tls.set_verify_mode(asio::ssl::verify_peer);
  asio::ssl::stream<asio::ip::tcp::socket> stream(std::move(socket), tls);
  stream.set_verify_callback(asio::ssl::host_name_verification(url.host));
  SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str());  // SNI
  co_await stream.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
  co_await exchange(stream, url, max_bytes, response);
}

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
  bool done = false;
  asio::io_context io;
  asio::co_spawn(io, get(parsed, max_bytes, &response), [&](std::exception_ptr e) {
    done = true;
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      result.error = ex.what();
    }
  });
  io.run_for(std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000)));
  if (!done) {
    result.error = "timed out";
    return result;
  }
  if (result.error.empty()) takeBody(response, max_bytes, &result);
  return result;
}

}  // namespace herald::http
