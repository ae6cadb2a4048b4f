// Node: what all workers of one server process share: the configuration,
// the broker, each worker's Hub, the token verifier, per-user limits and
// node identity. Built at start-up, then read-only except for the verifier
// (swapped when a JWKS URL is refreshed) and the per-user rate limiter, both
// guarded. Thread-safe to read.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "broker/broker.h"
#include "config/config.h"
#include "core/admission.h"
#include "core/user_rate_limiter.h"

namespace herald::auth {
class Verifier;
}

namespace herald::core {

class Hub;

class Node {
 public:
  Node(const config::Config& config, broker::Broker& broker,
       std::shared_ptr<const auth::Verifier> verifier);

  const config::Config& config() const { return config_; }
  broker::Broker& broker() { return broker_; }
  // The current verifier (null when no key is configured). Callers keep the
  // copy for the one check they make: a refresh may replace it meanwhile.
  // Taken at connect, subscribe with a token and refresh, never per delivery.
  std::shared_ptr<const auth::Verifier> verifier() const;
  // Replaces the verifier for every later check (JWKS refresh).
  void setVerifier(std::shared_ptr<const auth::Verifier> verifier);
  UserRateLimiter& publishLimiter() { return publish_limiter_; }
  const std::string& name() const { return name_; }
  Admission& admission() { return admission_; }
  int64_t startedMs() const { return started_ms_; }

  void addHub(Hub* hub) { hubs_.push_back(hub); }
  Hub& hub(unsigned worker) { return *hubs_[worker]; }
  unsigned numWorkers() const { return static_cast<unsigned>(hubs_.size()); }

  // Runs fn on every worker's thread, then done(results, by worker) on the
  // thread of worker `from`.
  template <typename T>
  void gather(unsigned from, std::function<T(Hub&)> fn, std::function<void(std::vector<T>)> done);

 private:
  void postTo(unsigned worker, std::function<void()> fn);

  const config::Config& config_;
  broker::Broker& broker_;
  mutable std::mutex verifier_mu_;
  std::shared_ptr<const auth::Verifier> verifier_;
  UserRateLimiter publish_limiter_;
  std::vector<Hub*> hubs_;
  Admission admission_;
  std::string name_;
  int64_t started_ms_;
};

template <typename T>
void Node::gather(unsigned from, std::function<T(Hub&)> fn, std::function<void(std::vector<T>)> done) {
  struct State {
    std::mutex mu;
    std::vector<T> results;
    unsigned remaining;
  };
  auto state = std::make_shared<State>();
  state->results.resize(hubs_.size());
  state->remaining = static_cast<unsigned>(hubs_.size());
  for (unsigned i = 0; i < hubs_.size(); ++i) {
    postTo(i, [this, i, from, state, fn, done] {
      T value = fn(*hubs_[i]);
      bool last;
      {
        std::lock_guard lock(state->mu);
        state->results[i] = std::move(value);
        last = --state->remaining == 0;
      }
      if (last) postTo(from, [state, done] { done(std::move(state->results)); });
    });
  }
}

}  // namespace herald::core
