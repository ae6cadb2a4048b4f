// JwksRefresher: keeps the node's verifier in step with [auth] jwks_url. A
// background thread fetches the JWKS every jwks_refresh_interval seconds and
// swaps a new Verifier into the Node (connections take a copy per check, so
// a swap never disturbs a check in flight). A failed fetch or an unusable
// JWKS keeps the last good keys and logs a warning. Owns its thread: the
// destructor stops and joins it. The Node must outlive the refresher.
#pragma once

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "auth/jwt.h"

namespace herald::core {
class Node;
}

namespace herald::server {

class JwksRefresher {
 public:
  // `base` is the verifier's config with the first JWKS already in it.
  JwksRefresher(core::Node& node, std::string url, double interval_s, auth::VerifierConfig base);
  ~JwksRefresher();
  JwksRefresher(const JwksRefresher&) = delete;
  JwksRefresher& operator=(const JwksRefresher&) = delete;

 private:
  void run();
  // One fetch and swap; false (after a warning) when the old keys stay.
  bool refresh();

  core::Node& node_;
  const std::string url_;
  const double interval_s_;
  auth::VerifierConfig config_;  // refresh thread only
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once everything above is set
};

}  // namespace herald::server
