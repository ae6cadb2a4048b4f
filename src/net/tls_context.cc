#include "net/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace herald::net {

namespace {
// TLS 1.2 suites with forward secrecy and AEAD only (Mozilla "intermediate");
// TLS 1.3 suites are OpenSSL's defaults, all of them modern.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

std::string lastError(const char* what) {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  char text[256] = "unknown error";
  if (e != 0) ERR_error_string_n(e, text, sizeof text);
  return std::string(what) + ": " + text;
}
}  // namespace

TlsContext::TlsContext() : ctx_(asio::ssl::context::tls_server) {}

std::shared_ptr<const TlsContext> TlsContext::load(const std::string& cert_file,
                                                   const std::string& key_file, std::string* error) {
  std::shared_ptr<TlsContext> tls(new TlsContext());
  SSL_CTX* ctx = tls->ctx_.native_handle();
  ERR_clear_error();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Partial and moving writes: the out-queue retries a blocked write from
  // wherever its bytes are then. Released buffers: an idle TLS connection
  // gives its 16 KiB+ record buffers back to the allocator.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  // Sessions resume through tickets; no server-side cache to grow.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
    *error = lastError("cipher list");
    return nullptr;
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    *error = lastError(("certificate " + cert_file).c_str());
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    *error = lastError(("private key " + key_file).c_str());
    return nullptr;
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    *error = lastError(("private key " + key_file + " does not match " + cert_file).c_str());
    return nullptr;
  }
  return tls;
}

ssl_st* TlsContext::newSession() const {
  SSL* ssl = SSL_new(ctx_.native_handle());
  if (ssl) SSL_set_accept_state(ssl);
  return ssl;
}

}  // namespace herald::net
