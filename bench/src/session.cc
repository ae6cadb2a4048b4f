#include "session.h"

#include <cstring>

namespace herald::bench {
namespace {

// The numeric "id" of a reply line that starts with {"id":N, or 0.
uint64_t replyId(std::string_view line) {
  constexpr std::string_view kPrefix = "{\"id\":";
  if (line.substr(0, kPrefix.size()) != kPrefix) return 0;
  uint64_t id = 0;
  for (size_t i = kPrefix.size(); i < line.size() && line[i] >= '0' && line[i] <= '9'; ++i)
    id = id * 10 + uint64_t(line[i] - '0');
  return id;
}

bool isError(std::string_view line) { return line.find("\"error\"") != std::string_view::npos; }

}  // namespace

Session::Session(asio::io_context& io, Owner* owner, Proto proto) : ws_(io, this), owner_(owner), proto_(proto) {}

void Session::start(const asio::ip::tcp::endpoint& remote, const asio::ip::address& source,
                    const std::string& host, const std::string& base_path,
                    std::vector<std::string> channels, const std::string& token) {
  channels_ = std::move(channels);
  token_ = token;
  state_ = State::kConnecting;
  std::string first = channels_.empty() ? std::string() : channels_.front();
  if (proto_ == Proto::kHeraldSse) {
    for (size_t i = 1; i < channels_.size(); ++i) first += "," + channels_[i];
  }
  ws_.start(remote, source, host, upgradePath(proto_, base_path, first, token), proto_ == Proto::kHeraldSse);
}

void Session::close() {
  if (state_ == State::kDead) return;
  state_ = State::kDead;
  ws_.close();
}

void Session::fail(std::string_view why) {
  if (state_ == State::kDead) return;
  state_ = State::kDead;
  ws_.close();
  owner_->onFailed(*this, why);
}

void Session::becomeReady() {
  state_ = State::kReady;
  std::string().swap(token_);
  owner_->onReady(*this);
}

void Session::onOpen(WsClient& ws) {
  state_ = State::kHandshake;
  switch (proto_) {
    case Proto::kHerald:
    case Proto::kCentrifugo: {
      ws.sendText(connectCommand(next_id_++, token_), true);
      for (const auto& channel : channels_) ws.sendText(subscribeCommand(next_id_++, channel), true);
      handshake_ids_ = next_id_ - 1;
      pending_replies_ = uint32_t(handshake_ids_);
      ws.flush();
      return;
    }
    case Proto::kSocketIo:
      return;  // the server speaks first: the Engine.IO open packet
    case Proto::kPlainWs:
      return becomeReady();
    case Proto::kHeraldSse:
      // The server connects and subscribes on its own: wait for a
      // subscribe event per channel.
      pending_replies_ = uint32_t(channels_.size());
      if (pending_replies_ == 0) becomeReady();
      return;
  }
}

void Session::onClosed(WsClient&, std::string_view why) {
  if (state_ == State::kDead) return;
  state_ = State::kDead;
  owner_->onFailed(*this, why);
}

void Session::onMessage(WsClient& ws, std::string_view message) {
  switch (proto_) {
    case Proto::kHerald:
    case Proto::kCentrifugo: {
      // A frame may carry several JSON messages separated by newlines.
      size_t start = 0;
      while (start < message.size() && state_ != State::kDead) {
        const char* nl = static_cast<const char*>(memchr(message.data() + start, '\n', message.size() - start));
        size_t end = nl ? size_t(nl - message.data()) : message.size();
        if (end > start) handleJsonLine(message.substr(start, end - start));
        start = end + 1;
      }
      return;
    }
    case Proto::kSocketIo:
      return handleSocketIo(message);
    case Proto::kPlainWs: {
      Marker m;
      size_t pos = 0;
      while (nextMarker(message, &pos, &m)) owner_->onEvent(*this, m);
      return;
    }
    case Proto::kHeraldSse:
      return handleSseEvent(message);
  }
  (void)ws;
}

// One SSE event (its lines, without the blank line that ended it).
void Session::handleSseEvent(std::string_view event) {
  Marker m;
  size_t pos = 0;
  if (state_ == State::kReady && nextMarker(event, &pos, &m)) return owner_->onEvent(*this, m);
  auto named = [event](std::string_view name) {
    size_t at = event.find("event: ");
    return at != std::string_view::npos && event.substr(at + 7, name.size()) == name;
  };
  if (named("subscribe")) {
    if (state_ == State::kHandshake && --pending_replies_ == 0) becomeReady();
  } else if (named("subscribe_error") || named("disconnect")) {
    fail("server: " + std::string(event));
  }
}

void Session::handleJsonLine(std::string_view line) {
  if (state_ == State::kReady) {
    Marker m;
    size_t pos = 0;
    if (nextMarker(line, &pos, &m)) return owner_->onEvent(*this, m);
  }
  if (line == "{}") {
    // Centrifugo's ping (protocol v2): answer with an empty command.
    ws_.sendText("{}");
    return;
  }
  const uint64_t id = replyId(line);
  if (id == 0) {
    if (line.find("\"disconnect\"") != std::string_view::npos) return fail("server disconnect: " + std::string(line));
    return;  // other pushes (join/leave, ...) are not ours
  }
  if (id <= handshake_ids_) {
    if (state_ != State::kHandshake) return;
    if (isError(line)) return fail(std::string(id == 1 ? "connect" : "subscribe") + " refused: " + std::string(line));
    if (--pending_replies_ == 0) becomeReady();
    return;
  }
  owner_->onPublishReply(*this, isError(line), line);
}

void Session::handleSocketIo(std::string_view packet) {
  if (packet.empty()) return;
  if (state_ == State::kReady && packet.size() > 2 && packet[0] == '4' && packet[1] == '2') {
    Marker m;
    size_t pos = 0;
    while (nextMarker(packet, &pos, &m)) owner_->onEvent(*this, m);
    return;
  }
  switch (packet[0]) {
    case '0':  // Engine.IO open: connect to the default namespace
      if (token_.empty()) ws_.sendText("40");
      else ws_.sendText("40{\"token\":\"" + token_ + "\"}");
      return;
    case '2':  // Engine.IO ping
      ws_.sendText("3");
      return;
    case '1':
      return fail("socket.io: engine closed");
    case '4':
      if (packet.size() >= 2 && packet[1] == '0' && state_ == State::kHandshake) return becomeReady();
      if (packet.size() >= 2 && packet[1] == '4') return fail("socket.io connect refused: " + std::string(packet));
      if (packet.size() >= 2 && packet[1] == '1') return fail("socket.io: disconnected by the server");
      return;
    default:
      return;
  }
}

void Session::publish(const std::string& channel, std::string_view payload, bool more) {
  if (state_ != State::kReady) return;
  scratch_.clear();
  appendWsPublish(&scratch_, proto_, next_id_++, channel, payload);
  ws_.sendText(scratch_, more);
}

}  // namespace herald::bench
