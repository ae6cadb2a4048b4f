#include "core/node.h"

#include <unistd.h>

#include "base/clock.h"
#include "core/hub.h"
#include "net/worker.h"

namespace herald::core {

namespace {
std::string hostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "herald";
  return buf;
}
}  // namespace

Node::Node(const config::Config& config, broker::Broker& broker,
           std::shared_ptr<const auth::Verifier> verifier)
    : config_(config),
      broker_(broker),
      verifier_(std::move(verifier)),
      publish_limiter_(config.limits.publishes_per_second_per_user),
      admission_(config.limits),
      name_(hostName() + ":" + std::to_string(config.server.port)),
      started_ms_(base::wallNowMs()) {}

std::shared_ptr<const auth::Verifier> Node::verifier() const {
  std::lock_guard lock(verifier_mu_);
  return verifier_;
}

void Node::setVerifier(std::shared_ptr<const auth::Verifier> verifier) {
  std::lock_guard lock(verifier_mu_);
  verifier_.swap(verifier);
  // The old one is released after the lock, outside any checker's way.
}

void Node::postTo(unsigned worker, std::function<void()> fn) {
  hubs_[worker]->worker().post(std::move(fn));
}

}  // namespace herald::core
