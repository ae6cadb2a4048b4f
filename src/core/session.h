// Session: one client of the native protocol, whatever carries it. It holds
// the client's identity, subscriptions and the rules that apply to it, and
// turns commands into hub and broker calls and replies. The transport owns
// the session and tells it about messages, ticks and the end. Runs on one
// worker's thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/identity.h"
#include "core/transport.h"
#include "broker/broker.h"
#include "net/bytes.h"
#include "protocol/command.h"

namespace herald::auth {
struct Claims;
enum class TokenError : uint8_t;
}

namespace herald::config {
struct Namespace;
}

namespace herald::core {

class Hub;

class Session {
 public:
  Session(Hub& hub, Transport& transport, int64_t now_ms);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // One text message: one or more commands separated by '\n'. A client's
  // commands are paced by commands_per_second; those a transport builds
  // itself from one request (SSE: connect and a subscribe per channel of
  // the URL) are not (paced = false): the client cannot space them out, the
  // request was admitted like any connection, and max_channels_per_connection
  // bounds how many there are.
  void onMessage(std::string_view text, bool paced = true);
  // Once a second: the connect deadline, token expiry.
  void onTick(int64_t now_ms);
  // Sends the disconnect push and closes the transport with `code`.
  void disconnect(uint16_t code, std::string_view reason = {});

  // Subscribes or unsubscribes on the server's word (the API), whatever the
  // namespace's rules, and tells the client with a subscribe/unsubscribe
  // push. Nothing happens if there is nothing to do.
  void serverSubscribe(std::string_view channel);
  void serverUnsubscribe(std::string_view channel);

  // A push the hub prepared from `pub`.
  void deliver(const net::Bytes& frame, const broker::Publication& pub);

  bool connected() const { return state_ == State::kConnected; }
  bool closing() const { return state_ == State::kClosing; }
  uint64_t connectionId() const { return transport_.connectionId(); }
  // "" for an anonymous connection.
  const std::string& user() const;
  // Empty until connected.
  std::string_view client() const { return {client_, client_[0] ? sizeof client_ : 0}; }
  WireFormat format() const { return transport_.format(); }
  const std::vector<std::string>& channels() const { return channels_; }

 private:
  enum class State : uint8_t { kAwaitingConnect, kConnected, kClosing };

  void handle(protocol::Command& cmd);
  void handleConnect(const protocol::Command& cmd);
  void handleSubscribe(const protocol::Command& cmd);
  void handleUnsubscribe(const protocol::Command& cmd);
  void handlePublish(const protocol::Command& cmd);
  void handleHistory(const protocol::Command& cmd);
  // Leaves presence and the hub's index; false if not subscribed.
  bool dropSubscription(std::string_view channel);
  void handlePresence(const protocol::Command& cmd);
  void handleRefresh(const protocol::Command& cmd);
  // Checks `token` with the node's current verifier.
  auth::TokenError verifyToken(std::string_view token, auth::Claims* claims) const;
  // Authorization (docs/security.md). Each returns 0 when allowed, else the
  // error code to reply (103, or 109 for an expired subscription token).
  uint16_t subscribeDenial(const config::Namespace& ns, const protocol::Command& cmd) const;
  uint16_t readDenial(const config::Namespace& ns, std::string_view channel) const;
  uint16_t publishDenial(const config::Namespace& ns, std::string_view channel) const;
  // Replies the denial and counts it; false when there is none.
  bool refuse(const protocol::Command& cmd, uint16_t code);
  // The subscribe reply: position, and with `since` whether it recovered.
  void replySubscribed(uint64_t id, bool wants_recovery, const broker::SubscribeResult& result);
  // Enters or leaves the channel's presence if its namespace tracks it.
  void joinPresence(std::string_view channel);
  void leavePresence(std::string_view channel);
  // Checks a read command (history, presence): the channel is valid, the
  // client may read it (readDenial), and `enabled(ns)` holds (else 108).
  // Replies with the error and returns null when not.
  const config::Namespace* readableNamespace(const protocol::Command& cmd,
                                             bool (*enabled)(const config::Namespace&));
  void replyError(uint64_t id, uint16_t code, std::string_view message);
  void reply(std::string_view json);
  bool isSubscribed(std::string_view channel) const;
  // Namespace of a valid channel name; null (after replying 102) otherwise.
  const config::Namespace* channelNamespace(uint64_t id, std::string_view channel);

  // Takes a token from the commands-per-second bucket; false when empty.
  bool takeCommandToken();

  // Ordered to leave no padding: every idle connection pays for each byte.
  Hub& hub_;
  Transport& transport_;
  int64_t opened_ms_;
  char client_[36] = {};       // the client id, a UUID: inline, not a heap string
  uint32_t expires_at_s_ = 0;  // token exp (Unix seconds); 0 = never
  State state_ = State::kAwaitingConnect;
  bool admitted_ = false;      // holds a place in the node's Admission
  uint16_t refused_ = 0;       // commands refused in a row by the rate limit
  float tokens_ = 0;           // commands-per-second bucket
  uint32_t refilled_ms_ = 0;   // of the bucket, since opened_ms_
  std::unique_ptr<const Identity> identity_;  // null: anonymous, no claims
  std::vector<std::string> channels_;  // subscribed channels
};

}  // namespace herald::core
