#include "net/tls_stream.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <climits>

namespace herald::net {

std::unique_ptr<TlsStream> TlsStream::create(std::shared_ptr<const TlsContext> context, int fd) {
  SSL* ssl = context->newSession();
  if (!ssl) return nullptr;
  if (SSL_set_fd(ssl, fd) != 1) {
    SSL_free(ssl);
    return nullptr;
  }
  return std::unique_ptr<TlsStream>(new TlsStream(std::move(context), ssl));
}

TlsStream::TlsStream(std::shared_ptr<const TlsContext> context, ssl_st* ssl)
    : context_(std::move(context)), ssl_(ssl) {}

TlsStream::~TlsStream() { SSL_free(ssl_); }

bool TlsStream::established() const { return SSL_is_init_finished(ssl_); }

bool TlsStream::hasPending() const { return SSL_has_pending(ssl_) != 0; }

TlsResult TlsStream::read(char* buf, size_t cap) {
  // OpenSSL's error queue is per thread: stale entries would misclassify.
  ERR_clear_error();
  int n = SSL_read(ssl_, buf, static_cast<int>(std::min<size_t>(cap, INT_MAX)));
  if (n > 0) return {TlsStatus::kOk, static_cast<size_t>(n)};
  return {classify(n)};
}

TlsResult TlsStream::write(const char* data, size_t len) {
  ERR_clear_error();
  int n = SSL_write(ssl_, data, static_cast<int>(std::min<size_t>(len, INT_MAX)));
  if (n > 0) return {TlsStatus::kOk, static_cast<size_t>(n)};
  return {classify(n)};
}

void TlsStream::shutdown() {
  if (!established()) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);
  ERR_clear_error();
}

TlsStatus TlsStream::classify(int ret) {
  int error = SSL_get_error(ssl_, ret);
  TlsStatus status = TlsStatus::kFailed;
  switch (error) {
    case SSL_ERROR_WANT_READ: status = TlsStatus::kWantRead; break;
    case SSL_ERROR_WANT_WRITE: status = TlsStatus::kWantWrite; break;
    case SSL_ERROR_ZERO_RETURN: status = TlsStatus::kClosed; break;
    case SSL_ERROR_SYSCALL:
      // EOF or reset: the peer went away, during the handshake or after.
      status = TlsStatus::kClosed;
      break;
    case SSL_ERROR_SSL: {
      int reason = ERR_GET_REASON(ERR_peek_error());
      if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        // A peer that closes without close_notify (most HTTPS clients do):
        // our messages are framed, so a truncation cannot pass unnoticed.
        status = TlsStatus::kClosed;
      } else if (!established() &&
                 (reason == SSL_R_HTTP_REQUEST || reason == SSL_R_HTTPS_PROXY_REQUEST)) {
        status = TlsStatus::kPlaintext;
      }
      break;
    }
    default: break;
  }
  ERR_clear_error();
  return status;
}

}  // namespace herald::net
