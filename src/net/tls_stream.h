// TlsStream: the TLS state of one connection (an OpenSSL SSL over the
// connection's non-blocking socket) and the context it was accepted with,
// kept alive here so a certificate reload never touches open connections.
// A plaintext Connection has none: it pays one null pointer for TLS.
// Worker thread only; owned by its Connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "net/tls_context.h"

namespace herald::net {

enum class TlsStatus : uint8_t {
  kOk,         // `bytes` moved
  kWantRead,   // wait for readability, then call again
  kWantWrite,  // wait for writability, then call again (same length for writes)
  kClosed,     // the peer closed (close_notify or EOF)
  kPlaintext,  // the peer spoke plain HTTP to the TLS port
  kFailed,     // handshake refused (protocol version, ciphers) or a broken record
};

struct TlsResult {
  TlsStatus status;
  size_t bytes = 0;
};

class TlsStream {
 public:
  // Null if OpenSSL cannot make the session.
  static std::unique_ptr<TlsStream> create(std::shared_ptr<const TlsContext> context, int fd);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // Decrypts into buf (the handshake runs inside the first reads).
  TlsResult read(char* buf, size_t cap);
  // Encrypts and sends up to one record's worth of data[0..len).
  TlsResult write(const char* data, size_t len);
  // Sends close_notify, best effort (the socket is closing anyway).
  void shutdown();

  bool established() const;
  // Decrypted bytes OpenSSL holds that the socket will not signal again.
  bool hasPending() const;

  // A write that got kWantWrite must be repeated with the same length;
  // the out-queue keeps those bytes in place until then.
  size_t blocked_write = 0;
  // A read that got kWantWrite (a handshake record stuck in the socket).
  bool read_wants_write = false;
  // A write that got kWantRead: retry the flush after the next read.
  bool write_wants_read = false;

 private:
  TlsStream(std::shared_ptr<const TlsContext> context, ssl_st* ssl);
  TlsStatus classify(int ret);

  std::shared_ptr<const TlsContext> context_;
  ssl_st* ssl_;
};

}  // namespace herald::net
