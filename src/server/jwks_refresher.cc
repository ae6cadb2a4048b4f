#include "server/jwks_refresher.h"

#include <chrono>

#include "core/node.h"
#include "http/fetch.h"
#include "log/log.h"
#include "server/verifiers.h"

namespace herald::server {

JwksRefresher::JwksRefresher(core::Node& node, std::string url, double interval_s,
                             auth::VerifierConfig base)
    : node_(node), url_(std::move(url)), interval_s_(interval_s), config_(std::move(base)),
      thread_([this] { run(); }) {}

JwksRefresher::~JwksRefresher() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void JwksRefresher::run() {
  const auto interval = std::chrono::milliseconds(static_cast<int64_t>(interval_s_ * 1000));
  std::unique_lock lock(mu_);
  while (!wake_.wait_for(lock, interval, [this] { return stopping_; })) {
    lock.unlock();
    refresh();
    lock.lock();
  }
}

bool JwksRefresher::refresh() {
  http::FetchResult r = http::fetchUrl(url_, kJwksFetchTimeout, kMaxJwksBytes);
  if (!r.ok) {
    spdlog::warn("[auth] jwks_url {}: {}; keeping the last keys", url_, r.error);
    return false;
  }
  if (r.body == config_.jwks_json) return true;  // unchanged: nothing to rebuild
  auth::VerifierConfig next = config_;
  next.jwks_json = std::move(r.body);
  std::string error;
  std::shared_ptr<const auth::Verifier> verifier = auth::Verifier::create(next, &error);
  if (!verifier) {
    spdlog::warn("[auth] jwks_url {}: {}; keeping the last keys", url_, error);
    return false;
  }
  node_.setVerifier(std::move(verifier));
  config_ = std::move(next);
  spdlog::info("[auth] jwks_url {}: new keys loaded", url_);
  return true;
}

}  // namespace herald::server
