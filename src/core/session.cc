#include "core/session.h"

#include <algorithm>
#include <chrono>
#include <random>

#include <fmt/format.h>

#include "auth/glob.h"
#include "auth/jwt.h"
#include "base/clock.h"
#include "auth/user_channel.h"
#include "config/config.h"
#include "core/channel.h"
#include "core/disconnect.h"
#include "core/event_json.h"
#include "core/hub.h"
#include "core/node.h"
#include "log/log.h"
#include "net/worker.h"
#include "protocol/command_parser.h"
#include "protocol/json_writer.h"

namespace herald::core {

namespace {

using protocol::Method;
using metrics::CommandKind;

CommandKind kindOf(Method m) {
  switch (m) {
    case Method::kConnect: return CommandKind::kConnect;
    case Method::kSubscribe: return CommandKind::kSubscribe;
    case Method::kUnsubscribe: return CommandKind::kUnsubscribe;
    case Method::kPublish: return CommandKind::kPublish;
    case Method::kPresence: return CommandKind::kPresence;
    case Method::kPresenceStats: return CommandKind::kPresenceStats;
    case Method::kHistory: return CommandKind::kHistory;
    case Method::kRefresh: return CommandKind::kRefresh;
  }
  return CommandKind::kInvalid;
}

int64_t unixNowS() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

// The token's exp as the session keeps it: 0 = never expires.
uint32_t expiryOf(const auth::Claims& claims) {
  return static_cast<uint32_t>(std::clamp<int64_t>(claims.exp.value_or(0), 0, UINT32_MAX));
}

// Seconds left until `expires_at_s`, for the "ttl" of connect and refresh.
int64_t ttlOf(uint32_t expires_at_s) { return std::max<int64_t>(0, expires_at_s - unixNowS()); }

// True when the connection's token has a pattern in `claim` ("channels" or
// "publish") that matches `channel`. Anonymous connections have no claims.
bool claimAllows(const Identity* identity, std::vector<std::string> Identity::*claim,
                 std::string_view channel) {
  return identity && auth::matchesAny(identity->*claim, channel);
}

// Client ids are random (RFC 4122 version 4 layout): unguessable, unique
// across workers and nodes without coordination.
void newClientId(char (&out)[36]) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t a = rng(), b = rng();
  a = (a & ~0xf000ull) | 0x4000ull;
  b = (b & 0x3fffffffffffffffull) | 0x8000000000000000ull;
  fmt::format_to_n(out, sizeof out, "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", a >> 32,
                   (a >> 16) & 0xffff, a & 0xffff, b >> 48, b & 0xffffffffffffull);
}

}  // namespace

Session::Session(Hub& hub, Transport& transport, int64_t now_ms)
    : hub_(hub),
      transport_(transport),
      opened_ms_(now_ms),
      tokens_(static_cast<float>(std::max(1.0, hub.node().config().limits.commands_per_second))) {
  hub_.addSession(this);
}

Session::~Session() {
  // A connection that ends without a goodbye (reset, no pong) leaves
  // presence here; one that was disconnected already left it then.
  if (state_ == State::kConnected) {
    for (const std::string& channel : channels_) leavePresence(channel);
  }
  hub_.removeSession(this);
  if (admitted_) hub_.node().admission().release(transport_.remoteIp());
}

void Session::onMessage(std::string_view text, bool paced) {
  protocol::CommandParser::split(text, [this, paced](std::string_view line) {
    if (state_ == State::kClosing) return;
    protocol::Command& cmd = hub_.command();
    protocol::ParsedCommand parsed = hub_.commandParser().parse(line, &cmd);
    auto& m = hub_.metrics();
    if (paced && !takeCommandToken()) {
      m.reject(metrics::Rejection::kRateLimited);
      // A client that keeps sending a second's worth of commands into an
      // empty bucket is not backing off: disconnect it (reconnect later).
      // (Capped so that the 16-bit count reaches it at any configured rate.)
      const double strikes = std::clamp(hub_.node().config().limits.commands_per_second, 1.0, 60000.0);
      if (++refused_ > strikes) {
        disconnect(kDisconnectTooManyRequests);
      } else {
        replyError(parsed.id, kErrorTooManyRequests, "too many requests");
      }
      return;
    }
    refused_ = 0;
    switch (parsed.error) {
      case protocol::CommandError::kNone:
        handle(cmd);
        return;
      case protocol::CommandError::kUnknownMethod:
        m.reject(metrics::Rejection::kUnknownMethod);
        m.commands_error[static_cast<size_t>(CommandKind::kInvalid)].inc();
        replyError(parsed.id, kErrorUnknownMethod, "unknown method");
        return;
      case protocol::CommandError::kBadField:
        m.reject(metrics::Rejection::kBadCommand);
        m.commands_error[static_cast<size_t>(CommandKind::kInvalid)].inc();
        replyError(parsed.id, kErrorBadRequest, parsed.what.empty() ? "bad request" : parsed.what);
        return;
      case protocol::CommandError::kTooLarge:
        m.reject(metrics::Rejection::kLimitExceeded);
        m.commands_error[static_cast<size_t>(CommandKind::kInvalid)].inc();
        replyError(parsed.id, kErrorMessageTooLarge, "message too large");
        return;
      default:
        // Not a command at all: nothing to answer to, the client is broken.
        m.reject(metrics::Rejection::kBadCommand);
        m.commands_error[static_cast<size_t>(CommandKind::kInvalid)].inc();
        disconnect(kDisconnectBadRequest);
        return;
    }
  });
}

void Session::handle(protocol::Command& cmd) {
  if (state_ == State::kAwaitingConnect && cmd.method != Method::kConnect) {
    hub_.metrics().reject(metrics::Rejection::kBadCommand);
    disconnect(kDisconnectBadRequest, "connect first");
    return;
  }
  if (state_ == State::kConnected && cmd.method == Method::kConnect) {
    replyError(cmd.id, kErrorBadRequest, "already connected");
    return;
  }
  switch (cmd.method) {
    case Method::kConnect: handleConnect(cmd); break;
    case Method::kSubscribe: handleSubscribe(cmd); break;
    case Method::kUnsubscribe: handleUnsubscribe(cmd); break;
    case Method::kPublish: handlePublish(cmd); break;
    case Method::kHistory: handleHistory(cmd); break;
    case Method::kPresence:
    case Method::kPresenceStats: handlePresence(cmd); break;
    case Method::kRefresh: handleRefresh(cmd); break;
  }
}

const std::string& Session::user() const {
  static const std::string kAnonymous;
  return identity_ ? identity_->user : kAnonymous;
}

auth::TokenError Session::verifyToken(std::string_view token, auth::Claims* claims) const {
  // A copy: a JWKS refresh may swap the node's verifier during the check.
  std::shared_ptr<const auth::Verifier> verifier = hub_.node().verifier();
  return verifier ? verifier->verify(token, unixNowS(), claims) : auth::TokenError::kNoKey;
}

void Session::handleConnect(const protocol::Command& cmd) {
  const config::Config& cfg = hub_.node().config();
  auto& m = hub_.metrics();
  // Limits first: a client over them learns nothing about its token.
  if (hub_.node().admission().admit(transport_.remoteIp(), hub_.worker().nowMs()) !=
      Admission::Verdict::kAdmitted) {
    m.reject(metrics::Rejection::kConnectionLimit);
    m.commands_error[static_cast<size_t>(CommandKind::kConnect)].inc();
    disconnect(kDisconnectConnectionLimit);
    return;
  }
  admitted_ = true;
  if (cmd.token.empty()) {
    if (!cfg.auth.allow_anonymous) {
      m.reject(metrics::Rejection::kUnauthorized);
      m.commands_error[static_cast<size_t>(CommandKind::kConnect)].inc();
      replyError(cmd.id, kErrorUnauthorized, "unauthorized");
      disconnect(kDisconnectInvalidToken, "token required");
      return;
    }
  } else {
    auth::Claims claims;
    auth::TokenError err = verifyToken(cmd.token, &claims);
    if (err != auth::TokenError::kNone) {
      m.reject(metrics::Rejection::kUnauthorized);
      m.commands_error[static_cast<size_t>(CommandKind::kConnect)].inc();
      bool expired = err == auth::TokenError::kExpired;
      replyError(cmd.id, expired ? kErrorTokenExpired : kErrorUnauthorized,
                 auth::tokenErrorMessage(err));
      disconnect(expired ? kDisconnectTokenExpired : kDisconnectInvalidToken);
      return;
    }
    // Only what authorization and presence read later is kept, in one block.
    if (!claims.sub.empty() || !claims.info_json.empty() || !claims.channels.empty() ||
        !claims.publish.empty()) {
      identity_ = std::make_unique<const Identity>(Identity{std::move(claims.sub), std::move(claims.info_json),
                                                            std::move(claims.channels),
                                                            std::move(claims.publish)});
    }
    expires_at_s_ = expiryOf(claims);
  }
  newClientId(client_);
  state_ = State::kConnected;
  log::conn(spdlog::level::debug, connectionId(), "connected client {} user \"{}\" from {}", client(),
            user(), transport_.remoteIp());
  m.commands_ok[static_cast<size_t>(CommandKind::kConnect)].inc();

  std::string& out = hub_.scratch();
  protocol::JsonWriter w(&out);
  w.raw("{\"id\":").number(cmd.id).raw(",\"connect\":{\"client\":").string(client());
  w.raw(",\"user\":").string(user());
  if (expires_at_s_ > 0) w.raw(",\"ttl\":").number(ttlOf(expires_at_s_));
  w.raw("}}");
  reply(out);
}

const config::Namespace* Session::channelNamespace(uint64_t id, std::string_view channel) {
  if (!validChannelName(channel)) {
    replyError(id, kErrorUnknownChannel, "invalid channel name");
    return nullptr;
  }
  const config::Namespace* ns = hub_.node().config().namespaceFor(channel);
  if (!ns) replyError(id, kErrorUnknownChannel, "unknown channel");
  return ns;
}

// ---- authorization (docs/security.md) ---------------------------------------

uint16_t Session::subscribeDenial(const config::Namespace& ns, const protocol::Command& cmd) const {
  // A user-limited channel is closed to everyone else, whatever the rule.
  if (!auth::userMayUse(cmd.channel, user())) return kErrorPermissionDenied;
  switch (ns.subscribe) {
    case config::SubscribeRule::kAny:
      return 0;
    case config::SubscribeRule::kClaims:
      return claimAllows(identity_.get(), &Identity::channels, cmd.channel) ? 0 : kErrorPermissionDenied;
    case config::SubscribeRule::kToken: {
      if (cmd.token.empty()) return kErrorPermissionDenied;
      auth::Claims claims;
      auth::TokenError err = verifyToken(cmd.token, &claims);
      if (err == auth::TokenError::kExpired) return kErrorTokenExpired;
      // The token grants this channel to this user, not to whoever holds it.
      if (err != auth::TokenError::kNone || claims.channel != cmd.channel || claims.sub != user()) {
        return kErrorPermissionDenied;
      }
      return 0;
    }
  }
  return kErrorPermissionDenied;
}

// Reads show what a subscriber would see, so they follow subscribe, except
// that a token namespace has no token to show on a read: the client must be
// subscribed (it showed one then).
uint16_t Session::readDenial(const config::Namespace& ns, std::string_view channel) const {
  if (!auth::userMayUse(channel, user())) return kErrorPermissionDenied;
  switch (ns.subscribe) {
    case config::SubscribeRule::kAny: return 0;
    case config::SubscribeRule::kClaims:
      return claimAllows(identity_.get(), &Identity::channels, channel) ? 0 : kErrorPermissionDenied;
    case config::SubscribeRule::kToken: return isSubscribed(channel) ? 0 : kErrorPermissionDenied;
  }
  return kErrorPermissionDenied;
}

uint16_t Session::publishDenial(const config::Namespace& ns, std::string_view channel) const {
  if (!auth::userMayUse(channel, user())) return kErrorPermissionDenied;
  bool allowed = false;
  switch (ns.publish) {
    case config::PublishRule::kAny: allowed = true; break;
    case config::PublishRule::kSubscribers: allowed = isSubscribed(channel); break;
    case config::PublishRule::kClaims:
      allowed = claimAllows(identity_.get(), &Identity::publish, channel);
      break;
    case config::PublishRule::kNone: allowed = false; break;
  }
  return allowed ? 0 : kErrorPermissionDenied;
}

bool Session::refuse(const protocol::Command& cmd, uint16_t code) {
  if (code == 0) return false;
  auto& m = hub_.metrics();
  m.reject(code == kErrorTokenExpired ? metrics::Rejection::kUnauthorized
                                      : metrics::Rejection::kPermissionDenied);
  m.commands_error[static_cast<size_t>(kindOf(cmd.method))].inc();
  replyError(cmd.id, code, code == kErrorTokenExpired ? "token expired" : "permission denied");
  return true;
}

// {"id":N,"refresh":{"ttl":T}} (ttl omitted when the new token has no exp).
// A refused refresh leaves the connection as it was: the old expiry still
// applies, and 3004 follows at it.
void Session::handleRefresh(const protocol::Command& cmd) {
  auto& m = hub_.metrics();
  const auto kind = static_cast<size_t>(CommandKind::kRefresh);
  if (cmd.token.empty()) {
    m.reject(metrics::Rejection::kBadCommand);
    m.commands_error[kind].inc();
    return replyError(cmd.id, kErrorBadRequest, "token required");
  }
  auth::Claims claims;
  auth::TokenError err = verifyToken(cmd.token, &claims);
  if (err != auth::TokenError::kNone) {
    m.reject(metrics::Rejection::kUnauthorized);
    m.commands_error[kind].inc();
    return replyError(cmd.id, err == auth::TokenError::kExpired ? kErrorTokenExpired : kErrorPermissionDenied,
                      auth::tokenErrorMessage(err));
  }
  // Someone else's token must not extend this connection.
  if (claims.sub != user()) {
    refuse(cmd, kErrorPermissionDenied);
    return;
  }
  expires_at_s_ = expiryOf(claims);
  m.commands_ok[kind].inc();
  std::string& out = hub_.scratch();
  protocol::JsonWriter w(&out);
  w.raw("{\"id\":").number(cmd.id).raw(",\"refresh\":{");
  if (expires_at_s_ > 0) w.raw("\"ttl\":").number(ttlOf(expires_at_s_));
  w.raw("}}");
  reply(out);
}

bool Session::isSubscribed(std::string_view channel) const {
  return std::find(channels_.begin(), channels_.end(), channel) != channels_.end();
}

void Session::handleSubscribe(const protocol::Command& cmd) {
  auto& m = hub_.metrics();
  auto fail = [&](uint16_t code, std::string_view message) {
    m.commands_error[static_cast<size_t>(CommandKind::kSubscribe)].inc();
    replyError(cmd.id, code, message);
  };
  const config::Namespace* ns = channelNamespace(cmd.id, cmd.channel);
  if (!ns) {
    m.commands_error[static_cast<size_t>(CommandKind::kSubscribe)].inc();
    return;
  }
  if (refuse(cmd, subscribeDenial(*ns, cmd))) return;
  if (isSubscribed(cmd.channel)) return fail(kErrorAlreadySubscribed, "already subscribed");
  if (channels_.size() >= hub_.node().config().limits.max_channels_per_connection) {
    m.reject(metrics::Rejection::kLimitExceeded);
    return fail(kErrorLimitExceeded, "too many channels");
  }
  channels_.push_back(cmd.channel);
  uint64_t id = cmd.id;
  std::string channel = cmd.channel;
  bool wants_recovery = cmd.since.present;
  broker::Position since{cmd.since.offset, cmd.since.epoch};
  hub_.subscribe(this, channel, wants_recovery ? &since : nullptr,
                 [this, id, channel, wants_recovery](const broker::SubscribeResult& result) {
                   if (result.status != broker::Status::kOk) {
                     channels_.erase(std::find(channels_.begin(), channels_.end(), channel));
                     hub_.metrics().commands_error[static_cast<size_t>(CommandKind::kSubscribe)].inc();
                     replyError(id, kErrorInternal, "engine unavailable");
                     return;
                   }
                   joinPresence(channel);
                   replySubscribed(id, wants_recovery, result);
                 });
}

// {"id":N,"subscribe":{"offset":X,"epoch":E[,"recovered":B][,"events":[...]]}}
// The recovered events travel in the reply itself, so they reach the client
// before any live push queued after it.
void Session::replySubscribed(uint64_t id, bool wants_recovery, const broker::SubscribeResult& result) {
  hub_.metrics().commands_ok[static_cast<size_t>(CommandKind::kSubscribe)].inc();
  std::string& out = hub_.scratch();
  protocol::JsonWriter w(&out);
  w.raw("{\"id\":").number(id).raw(",\"subscribe\":{\"offset\":").number(result.position.offset);
  w.raw(",\"epoch\":").string(result.position.epoch);
  if (wants_recovery) {
    // A reply larger than half the out-queue could never be sent whole
    // (3006, and the same again on every reconnect): say "not recovered"
    // instead, so the client reloads its state once and goes on.
    size_t head = out.size();
    bool recovered = result.recovered;
    if (recovered) {
      w.raw(",\"recovered\":true,\"events\":");
      size_t budget = hub_.node().config().limits.max_queue_bytes / 2;
      if (writeEvents(w, result.publications, budget) < result.publications.size()) {
        out.resize(head);
        recovered = false;
      }
    }
    if (!recovered) w.raw(",\"recovered\":false");
    hub_.metrics().recoveries[recovered ? 1 : 0].inc();
  }
  w.raw("}}");
  reply(out);
}

void Session::joinPresence(std::string_view channel) {
  const config::Namespace* ns = hub_.node().config().namespaceFor(channel);
  // join_leave alone tracks presence too: a leave needs to know who joined.
  if (!ns || !(ns->presence || ns->join_leave) || state_ != State::kConnected) return;
  broker::ClientInfo info;
  info.client.assign(client());
  info.user = user();
  if (identity_) info.info = identity_->info_json;
  hub_.node().broker().addPresence(channel, info, ns->join_leave);
}

void Session::leavePresence(std::string_view channel) {
  const config::Namespace* ns = hub_.node().config().namespaceFor(channel);
  if (!ns || !(ns->presence || ns->join_leave)) return;
  hub_.node().broker().removePresence(channel, client(), ns->join_leave);
}

bool Session::dropSubscription(std::string_view channel) {
  auto it = std::find(channels_.begin(), channels_.end(), channel);
  if (it == channels_.end()) return false;
  leavePresence(channel);
  hub_.unsubscribe(this, channel);
  channels_.erase(it);
  return true;
}

void Session::serverSubscribe(std::string_view channel) {
  if (state_ != State::kConnected || isSubscribed(channel) ||
      channels_.size() >= hub_.node().config().limits.max_channels_per_connection) {
    return;
  }
  channels_.emplace_back(channel);
  hub_.subscribe(this, channel, nullptr, [this, ch = std::string(channel)](const broker::SubscribeResult& r) {
    if (r.status != broker::Status::kOk) {
      channels_.erase(std::find(channels_.begin(), channels_.end(), ch));
      return;
    }
    joinPresence(ch);
    std::string& out = hub_.scratch();
    protocol::JsonWriter w(&out);
    w.raw("{\"push\":{\"channel\":").string(ch).raw(",\"subscribe\":{\"offset\":").number(r.position.offset);
    w.raw(",\"epoch\":").string(r.position.epoch).raw("}}}");
    reply(out);
  });
}

void Session::serverUnsubscribe(std::string_view channel) {
  if (state_ != State::kConnected || !dropSubscription(channel)) return;
  std::string& out = hub_.scratch();
  protocol::JsonWriter(&out).raw("{\"push\":{\"channel\":").string(channel).raw(",\"unsubscribe\":{}}}");
  reply(out);
}

void Session::handleUnsubscribe(const protocol::Command& cmd) {
  dropSubscription(cmd.channel);
  // Unsubscribing from a channel one is not in is not an error: the result
  // (not subscribed) is what the client asked for.
  hub_.metrics().commands_ok[static_cast<size_t>(CommandKind::kUnsubscribe)].inc();
  std::string& out = hub_.scratch();
  protocol::JsonWriter(&out).raw("{\"id\":").number(cmd.id).raw(",\"unsubscribe\":{}}");
  reply(out);
}

void Session::handlePublish(const protocol::Command& cmd) {
  auto& m = hub_.metrics();
  auto fail = [&](uint16_t code, std::string_view message) {
    m.commands_error[static_cast<size_t>(CommandKind::kPublish)].inc();
    replyError(cmd.id, code, message);
  };
  const config::Namespace* ns = channelNamespace(cmd.id, cmd.channel);
  if (!ns) {
    m.commands_error[static_cast<size_t>(CommandKind::kPublish)].inc();
    return;
  }
  if (refuse(cmd, publishDenial(*ns, cmd.channel))) return;
  uint32_t max_bytes = ns->max_message_bytes ? ns->max_message_bytes
                                             : hub_.node().config().limits.max_message_bytes;
  if (cmd.payload.size() > max_bytes) {
    m.reject(metrics::Rejection::kLimitExceeded);
    return fail(kErrorMessageTooLarge, "message too large");
  }
  // Only publishes that would be accepted spend the user's budget.
  if (!hub_.node().publishLimiter().take(user(), connectionId(), base::steadyNowMs())) {
    m.reject(metrics::Rejection::kRateLimited);
    return fail(kErrorTooManyRequests, "too many requests");
  }
  broker::PublishRequest req;
  req.channel = cmd.channel;
  req.event_type = cmd.event_type;
  req.version = cmd.version;
  req.payload = cmd.payload;
  req.idempotency_key = cmd.idempotency_key;
  req.publisher_user = user();
  req.publisher_client = client();
  req.history_size = ns->history_size;
  req.history_ttl_s = ns->history_ttl;
  uint64_t id = cmd.id;
  uint64_t conn_id = connectionId();
  Hub* hub = &hub_;
  hub_.node().broker().publish(req, [hub, conn_id, id](const broker::PublishResult& r) {
    Session* self = hub->findSession(conn_id);
    if (!self) return;
    auto& metrics = hub->metrics();
    if (r.status != broker::Status::kOk) {
      metrics.commands_error[static_cast<size_t>(CommandKind::kPublish)].inc();
      self->replyError(id, kErrorInternal, "engine unavailable");
      return;
    }
    metrics.published.inc();
    metrics.commands_ok[static_cast<size_t>(CommandKind::kPublish)].inc();
    std::string& out = hub->scratch();
    protocol::JsonWriter w(&out);
    w.raw("{\"id\":").number(id).raw(",\"publish\":{\"offset\":").number(r.offset);
    w.raw(",\"epoch\":").string(r.epoch).raw("}}");
    self->reply(out);
  });
}

const config::Namespace* Session::readableNamespace(const protocol::Command& cmd,
                                                    bool (*enabled)(const config::Namespace&)) {
  auto& m = hub_.metrics();
  auto kind = static_cast<size_t>(kindOf(cmd.method));
  const config::Namespace* ns = channelNamespace(cmd.id, cmd.channel);
  if (!ns) {
    m.commands_error[kind].inc();
    return nullptr;
  }
  if (refuse(cmd, readDenial(*ns, cmd.channel))) return nullptr;
  if (!enabled(*ns)) {
    m.commands_error[kind].inc();
    replyError(cmd.id, kErrorNotAvailable, "not available");
    return nullptr;
  }
  return ns;
}

// {"id":N,"history":{"events":[...],"offset":X,"epoch":E}}
void Session::handleHistory(const protocol::Command& cmd) {
  if (!readableNamespace(cmd, [](const config::Namespace& ns) { return ns.history_size > 0; })) return;
  broker::Position since{cmd.since.offset, cmd.since.epoch};
  broker::HistoryRequest req;
  req.channel = cmd.channel;
  req.since = cmd.since.present ? &since : nullptr;
  req.limit = cmd.limit;
  req.reverse = cmd.reverse;
  uint64_t id = cmd.id;
  uint64_t conn_id = connectionId();
  Hub* hub = &hub_;
  hub_.node().broker().history(req, [hub, conn_id, id](const broker::HistoryResult& r) {
    Session* self = hub->findSession(conn_id);
    if (!self) return;
    auto kind = static_cast<size_t>(CommandKind::kHistory);
    if (r.status == broker::Status::kUnrecoverablePosition) {
      hub->metrics().commands_error[kind].inc();
      return self->replyError(id, kErrorUnrecoverablePosition, "unrecoverable position");
    }
    if (r.status != broker::Status::kOk) {
      hub->metrics().commands_error[kind].inc();
      return self->replyError(id, kErrorInternal, "engine unavailable");
    }
    hub->metrics().commands_ok[kind].inc();
    std::string& out = hub->scratch();
    protocol::JsonWriter w(&out);
    w.raw("{\"id\":").number(id).raw(",\"history\":{\"events\":");
    // Whole events up to half the out-queue; the client pages on with
    // `since` from the last offset it got.
    writeEvents(w, r.publications, hub->node().config().limits.max_queue_bytes / 2);
    w.raw(",\"offset\":").number(r.position.offset).raw(",\"epoch\":").string(r.position.epoch);
    w.raw("}}");
    self->reply(out);
  });
}

// {"id":N,"presence":{"clients":{...}}} or {"id":N,"presenceStats":{"numClients":C,"numUsers":U}}
void Session::handlePresence(const protocol::Command& cmd) {
  if (!readableNamespace(cmd, [](const config::Namespace& ns) { return ns.presence; })) return;
  uint64_t id = cmd.id;
  uint64_t conn_id = connectionId();
  Hub* hub = &hub_;
  auto start = [hub, conn_id, id](std::string_view method) -> std::pair<Session*, std::string*> {
    Session* self = hub->findSession(conn_id);
    if (!self) return {nullptr, nullptr};
    std::string& out = hub->scratch();
    protocol::JsonWriter(&out).raw("{\"id\":").number(id).raw(",\"").raw(method).raw("\":");
    return {self, &out};
  };
  if (cmd.method == Method::kPresence) {
    hub_.node().broker().presence(cmd.channel, [hub, start](const broker::PresenceResult& r) {
      auto [self, out] = start("presence");
      if (!self) return;
      hub->metrics().commands_ok[static_cast<size_t>(CommandKind::kPresence)].inc();
      protocol::JsonWriter w(out);
      writePresence(w, r.clients);
      w.raw('}');
      self->reply(*out);
    });
  } else {
    hub_.node().broker().presenceStats(cmd.channel, [hub, start](const broker::PresenceStats& r) {
      auto [self, out] = start("presenceStats");
      if (!self) return;
      hub->metrics().commands_ok[static_cast<size_t>(CommandKind::kPresenceStats)].inc();
      protocol::JsonWriter w(out);
      writePresenceStats(w, r);
      w.raw('}');
      self->reply(*out);
    });
  }
}

void Session::replyError(uint64_t id, uint16_t code, std::string_view message) {
  std::string& out = hub_.scratch();
  protocol::JsonWriter w(&out);
  w.raw("{\"id\":").number(id).raw(",\"error\":{\"code\":").number(static_cast<int64_t>(code));
  w.raw(",\"message\":").string(message).raw("}}");
  reply(out);
}

void Session::reply(std::string_view json) {
  if (state_ == State::kClosing) return;
  if (transport_.sendJson(json) == SendStatus::kOverflow) disconnect(kDisconnectSlowConsumer);
}

void Session::deliver(const net::Bytes& frame, const broker::Publication& pub) {
  if (state_ != State::kConnected) return;
  if (transport_.sendPrepared(frame, pub) == SendStatus::kOverflow) disconnect(kDisconnectSlowConsumer);
}

void Session::disconnect(uint16_t code, std::string_view reason) {
  if (state_ == State::kClosing) return;
  // Others see this client leave now, not when its socket is finally closed.
  if (state_ == State::kConnected) {
    for (const std::string& channel : channels_) leavePresence(channel);
  }
  state_ = State::kClosing;
  DisconnectInfo info = disconnectInfo(code);
  if (reason.empty()) reason = info.reason;
  hub_.metrics().disconnect(code);
  // Whatever overflowed (a push, a reply, a heartbeat), it is a slow consumer.
  if (code == kDisconnectSlowConsumer) hub_.metrics().slow_consumers.inc();
  log::conn(code == kDisconnectShutdown || code == kDisconnectNormal ? spdlog::level::debug
                                                                      : spdlog::level::info,
            connectionId(), "disconnect {} ({}) user \"{}\"", code, reason, user());
  std::string& out = hub_.scratch();
  protocol::JsonWriter w(&out);
  w.raw("{\"push\":{\"disconnect\":{\"code\":").number(static_cast<int64_t>(code));
  w.raw(",\"reason\":").string(reason).raw(",\"reconnect\":").boolean(info.reconnect).raw("}}}");
  transport_.close(code, reason, out);
}

// A token bucket holding one second's worth of commands (at least one).
bool Session::takeCommandToken() {
  const double rate = hub_.node().config().limits.commands_per_second;
  if (rate <= 0) return true;
  const double burst = std::max(1.0, rate);
  // A fresh clock (the worker's is refreshed once per loop turn, and an idle
  // worker's turn may be old); read only when the limit is on.
  const auto now = static_cast<uint32_t>(base::steadyNowMs() - opened_ms_);
  tokens_ = static_cast<float>(std::min(burst, tokens_ + (now - refilled_ms_) / 1000.0 * rate));
  refilled_ms_ = now;
  if (tokens_ < 1.0f) return false;
  tokens_ -= 1.0f;
  return true;
}

void Session::onTick(int64_t now_ms) {
  const config::Config& cfg = hub_.node().config();
  const auto idle_ms = static_cast<int64_t>(cfg.limits.idle_timeout * 1000);
  if (state_ == State::kAwaitingConnect &&
      now_ms - opened_ms_ > static_cast<int64_t>(cfg.limits.handshake_timeout * 1000)) {
    disconnect(kDisconnectStale);
  } else if (idle_ms > 0 && now_ms - transport_.lastInputMs() > idle_ms) {
    disconnect(kDisconnectStale, "idle timeout");
  } else if (state_ == State::kConnected && expires_at_s_ > 0 && unixNowS() >= expires_at_s_) {
    disconnect(kDisconnectTokenExpired);
  }
}

}  // namespace herald::core
