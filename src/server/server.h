// Server: puts a node together from its configuration: the broker, one
// worker (thread, loop, listener, hub, router) per core, and the signal
// handling that shuts it all down gracefully. Used by `herald serve`.
#pragma once

#include <memory>

#include "config/config.h"

namespace herald::server {

class Server {
 public:
  explicit Server(const config::Config& config);
  ~Server();

  // Listens, serves until SIGINT or SIGTERM (SIGHUP reloads the TLS
  // certificate and key), then sends every client 3001,
  // waits up to [server] shutdown_timeout for them to go, and returns the
  // process exit code. Throws std::exception when it cannot start.
  int run();

 private:
  struct Parts;
  void detachBroker();
  void reloadTls();
  std::unique_ptr<Parts> parts_;
};

}  // namespace herald::server
