// TlsContext: the server side of TLS for a listener, built once from a PEM
// certificate chain and key (TLS 1.2 minimum, modern ciphers, no compression,
// no renegotiation, the server's cipher order). Immutable once built and
// shared through shared_ptr: a reload builds a new one, connections keep the
// one they were accepted with. Any thread may build one; a connection uses
// it on its worker's thread only.
#pragma once

#include <asio/ssl/context.hpp>
#include <memory>
#include <string>

namespace herald::net {

class TlsContext {
 public:
  // Loads and checks the files; on failure returns null and says why.
  static std::shared_ptr<const TlsContext> load(const std::string& cert_file,
                                                const std::string& key_file, std::string* error);

  // A new server-side SSL object for one connection (null if OpenSSL
  // cannot allocate one).
  ssl_st* newSession() const;

 private:
  TlsContext();
  mutable asio::ssl::context ctx_;
};

}  // namespace herald::net
