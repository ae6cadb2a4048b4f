#include "core/session.h"

#include <chrono>
#include <random>

#include <fmt/format.h>

#include "auth/jwt.h"
#include "config/config.h"
#include "core/channel.h"
#include "core/disconnect.h"
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
    : hub_(hub), transport_(transport), opened_ms_(now_ms) {
  hub_.addSession(this);
}

Session::~Session() {
  hub_.removeSession(this);
  if (admitted_) hub_.node().admission().release(transport_.remoteIp());
}

void Session::onMessage(std::string_view text) {
  protocol::CommandParser::split(text, [this](std::string_view line) {
    if (state_ == State::kClosing) return;
    protocol::Command& cmd = hub_.command();
    protocol::ParsedCommand parsed = hub_.commandParser().parse(line, &cmd);
    auto& m = hub_.metrics();
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
    case Method::kPresence:
    case Method::kPresenceStats:
    case Method::kHistory:
    case Method::kRefresh:
      hub_.metrics().commands_error[static_cast<size_t>(kindOf(cmd.method))].inc();
      replyError(cmd.id, kErrorNotAvailable, "not available");
      break;
  }
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
    const auth::Verifier* verifier = hub_.node().verifier();
    auth::Claims claims;
    auth::TokenError err = verifier ? verifier->verify(cmd.token, unixNowS(), &claims)
                                    : auth::TokenError::kNoKey;
    if (err != auth::TokenError::kNone) {
      m.reject(metrics::Rejection::kUnauthorized);
      m.commands_error[static_cast<size_t>(CommandKind::kConnect)].inc();
      bool expired = err == auth::TokenError::kExpired;
      replyError(cmd.id, expired ? kErrorTokenExpired : kErrorUnauthorized,
                 auth::tokenErrorMessage(err));
      disconnect(expired ? kDisconnectTokenExpired : kDisconnectInvalidToken);
      return;
    }
    user_ = claims.sub;
    expires_at_s_ = claims.exp.value_or(0);
  }
  newClientId(client_);
  state_ = State::kConnected;
  log::conn(spdlog::level::debug, connectionId(), "connected client {} user \"{}\" from {}", client(),
            user_, transport_.remoteIp());
  m.commands_ok[static_cast<size_t>(CommandKind::kConnect)].inc();

  std::string& out = hub_.scratch();
  protocol::JsonWriter w(&out);
  w.raw("{\"id\":").number(cmd.id).raw(",\"connect\":{\"client\":").string(client());
  w.raw(",\"user\":").string(user_);
  if (expires_at_s_ > 0) w.raw(",\"ttl\":").number(std::max<int64_t>(0, expires_at_s_ - unixNowS()));
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
  if (ns->subscribe != config::SubscribeRule::kAny) {
    // Token and claims rules need the security layer (see README: missing).
    m.reject(metrics::Rejection::kPermissionDenied);
    return fail(kErrorPermissionDenied, "permission denied");
  }
  if (isSubscribed(cmd.channel)) return fail(kErrorAlreadySubscribed, "already subscribed");
  if (channels_.size() >= hub_.node().config().limits.max_channels_per_connection) {
    m.reject(metrics::Rejection::kLimitExceeded);
    return fail(kErrorLimitExceeded, "too many channels");
  }
  channels_.push_back(cmd.channel);
  uint64_t id = cmd.id;
  std::string channel = cmd.channel;
  bool wants_recovery = cmd.since.present;
  hub_.subscribe(this, channel, [this, id, channel, wants_recovery](broker::Status status,
                                                                    const broker::Position& pos) {
    auto& metrics = hub_.metrics();
    if (status != broker::Status::kOk) {
      channels_.erase(std::find(channels_.begin(), channels_.end(), channel));
      metrics.commands_error[static_cast<size_t>(CommandKind::kSubscribe)].inc();
      replyError(id, kErrorInternal, "engine unavailable");
      return;
    }
    metrics.commands_ok[static_cast<size_t>(CommandKind::kSubscribe)].inc();
    std::string& out = hub_.scratch();
    protocol::JsonWriter w(&out);
    w.raw("{\"id\":").number(id).raw(",\"subscribe\":{\"offset\":").number(pos.offset);
    w.raw(",\"epoch\":").string(pos.epoch);
    // Without history nothing can be recovered: say so plainly, so the
    // client reloads its state instead of assuming it missed nothing.
    if (wants_recovery) w.raw(",\"recovered\":false");
    w.raw("}}");
    reply(out);
  });
}

void Session::handleUnsubscribe(const protocol::Command& cmd) {
  auto it = std::find(channels_.begin(), channels_.end(), cmd.channel);
  if (it != channels_.end()) {
    hub_.unsubscribe(this, cmd.channel);
    channels_.erase(it);
  }
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
  bool allowed = false;
  switch (ns->publish) {
    case config::PublishRule::kAny: allowed = true; break;
    case config::PublishRule::kSubscribers: allowed = isSubscribed(cmd.channel); break;
    case config::PublishRule::kNone:
    case config::PublishRule::kClaims: allowed = false; break;
  }
  if (!allowed) {
    m.reject(metrics::Rejection::kPermissionDenied);
    return fail(kErrorPermissionDenied, "permission denied");
  }
  uint32_t max_bytes = ns->max_message_bytes ? ns->max_message_bytes
                                             : hub_.node().config().limits.max_message_bytes;
  if (cmd.payload.size() > max_bytes) {
    m.reject(metrics::Rejection::kLimitExceeded);
    return fail(kErrorMessageTooLarge, "message too large");
  }
  broker::PublishRequest req;
  req.channel = cmd.channel;
  req.event_type = cmd.event_type;
  req.version = cmd.version;
  req.payload = cmd.payload;
  req.idempotency_key = cmd.idempotency_key;
  req.publisher_user = user_;
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

void Session::deliver(const net::Bytes& frame) {
  if (state_ != State::kConnected) return;
  if (transport_.sendPrepared(frame) == SendStatus::kOverflow) {
    hub_.metrics().slow_consumers.inc();
    disconnect(kDisconnectSlowConsumer);
  }
}

void Session::disconnect(uint16_t code, std::string_view reason) {
  if (state_ == State::kClosing) return;
  state_ = State::kClosing;
  DisconnectInfo info = disconnectInfo(code);
  if (reason.empty()) reason = info.reason;
  hub_.metrics().disconnect(code);
  log::conn(code == kDisconnectShutdown || code == kDisconnectNormal ? spdlog::level::debug
                                                                      : spdlog::level::info,
            connectionId(), "disconnect {} ({}) user \"{}\"", code, reason, user_);
  std::string& out = hub_.scratch();
  protocol::JsonWriter w(&out);
  w.raw("{\"push\":{\"disconnect\":{\"code\":").number(static_cast<int64_t>(code));
  w.raw(",\"reason\":").string(reason).raw(",\"reconnect\":").boolean(info.reconnect).raw("}}}");
  transport_.close(code, reason, out);
}

void Session::onTick(int64_t now_ms) {
  const config::Config& cfg = hub_.node().config();
  if (state_ == State::kAwaitingConnect &&
      now_ms - opened_ms_ > static_cast<int64_t>(cfg.limits.handshake_timeout * 1000)) {
    disconnect(kDisconnectStale);
  } else if (state_ == State::kConnected && expires_at_s_ > 0 && unixNowS() >= expires_at_s_) {
    disconnect(kDisconnectTokenExpired);
  }
}

}  // namespace herald::core
