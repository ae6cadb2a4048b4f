#include "core/hub.h"

#include <fnmatch.h>

#include <algorithm>
#include <unordered_set>

#include "base/clock.h"
#include "core/disconnect.h"
#include "core/event_json.h"
#include "core/node.h"
#include "core/session.h"
#include "net/worker.h"
#include "protocol/json_writer.h"

namespace herald::core {

namespace {
std::array<FrameEncoder, static_cast<size_t>(WireFormat::kCount)> g_encoders{};
}  // namespace

void Hub::setEncoder(WireFormat format, FrameEncoder encoder) {
  g_encoders[static_cast<size_t>(format)] = encoder;
}

Hub::Hub(Node& node, net::Worker& worker, metrics::WorkerMetrics& metrics)
    : node_(node),
      worker_(worker),
      index_(worker.index()),
      metrics_(metrics),
      command_parser_(node.config().limits.max_message_bytes, node.config().limits.max_json_depth) {}

Hub::~Hub() = default;

void Hub::addSession(Session* session) { sessions_.emplace(session->connectionId(), session); }

void Hub::removeSession(Session* session) {
  for (const std::string& channel : session->channels()) unsubscribe(session, channel);
  sessions_.erase(session->connectionId());
}

Session* Hub::findSession(uint64_t connection_id) {
  auto it = sessions_.find(connection_id);
  return it == sessions_.end() ? nullptr : it->second;
}

void Hub::subscribe(Session* session, std::string_view channel, const broker::Position* since,
                    std::function<void(const broker::SubscribeResult&)> done) {
  uint64_t conn_id = session->connectionId();
  broker::SubscribeRequest request;
  request.channel = channel;
  request.worker = index_;
  request.since = since;
  request.max_recovery = node_.config().engine.max_recovery_events;
  node_.broker().subscribe(
      request, [this, conn_id, channel = std::string(channel), done = std::move(done)](
                   const broker::SubscribeResult& result) {
        // The session may have gone while an asynchronous broker answered.
        Session* s = findSession(conn_id);
        if (!s) return;
        if (result.status == broker::Status::kOk) {
          // From here on, offsets after the position come from the inbox;
          // the ones up to it were recovered (or are not wanted).
          channels_[channel].subscribers.push_back({s, result.position.offset});
          metrics_.subscriptions.add(1);
        }
        done(result);
      });
}

void Hub::unsubscribe(Session* session, std::string_view channel) {
  auto it = channels_.find(channel);
  if (it == channels_.end()) return;
  LocalChannel& local = it->second;
  auto& subs = local.subscribers;
  auto pos = std::find_if(subs.begin(), subs.end(),
                          [session](const Subscriber& s) { return s.session == session; });
  if (pos == subs.end()) return;
  metrics_.subscriptions.add(-1);
  if (delivering_ == &local) {
    // Removing now would shift entries under the delivery loop.
    pos->session = nullptr;
    local.has_holes = true;
    return;
  }
  *pos = subs.back();
  subs.pop_back();
  if (subs.empty()) {
    node_.broker().unsubscribe(channel, index_);
    channels_.erase(it);
  }
}

void Hub::enqueue(broker::PublicationPtr pub) {
  bool post;
  {
    std::lock_guard lock(inbox_mu_);
    inbox_.push_back(std::move(pub));
    post = !drain_posted_;
    drain_posted_ = true;
  }
  if (post) worker_.post([this] { drainInbox(); });
}

void Hub::drainInbox() {
  {
    std::lock_guard lock(inbox_mu_);
    draining_.swap(inbox_);
    drain_posted_ = false;
  }
  for (const broker::PublicationPtr& pub : draining_) deliver(pub);
  draining_.clear();
}

void Hub::deliver(const broker::PublicationPtr& pub) {
  auto it = channels_.find(pub->channel);
  if (it == channels_.end()) return;
  LocalChannel& local = it->second;
  if (pub->kind != broker::Publication::Kind::kEvent) return deliverPresence(local, *pub);
  std::array<net::Bytes, static_cast<size_t>(WireFormat::kCount)> frames;
  delivering_ = &local;
  size_t delivered = 0;
  // Index loop: a session may unsubscribe (leave a hole) while we deliver.
  for (size_t i = 0; i < local.subscribers.size(); ++i) {
    Subscriber& sub = local.subscribers[i];
    if (!sub.session || pub->offset <= sub.after) continue;
    auto format = static_cast<size_t>(sub.session->format());
    if (!frames[format]) frames[format] = encode(static_cast<WireFormat>(format), *pub);
    sub.session->deliver(frames[format], *pub);
    ++delivered;
  }
  delivering_ = nullptr;
  metrics_.delivered.inc(delivered);
  if (delivered > 0 && pub->accepted_ns > 0) {
    int64_t ns = base::steadyNowNs() - pub->accepted_ns;
    metrics_.enqueue_latency.observe(static_cast<uint64_t>(std::max<int64_t>(0, ns)));
  }
  if (local.has_holes) {
    auto& subs = local.subscribers;
    subs.erase(std::remove_if(subs.begin(), subs.end(),
                              [](const Subscriber& s) { return s.session == nullptr; }),
               subs.end());
    local.has_holes = false;
    if (subs.empty()) {
      node_.broker().unsubscribe(pub->channel, index_);
      channels_.erase(it);
    }
  }
}

// Joins and leaves go to every subscriber but the client they are about,
// whatever its position: they are not part of the offset sequence.
void Hub::deliverPresence(const LocalChannel& local, const broker::Publication& pub) {
  std::array<net::Bytes, static_cast<size_t>(WireFormat::kCount)> frames;
  std::vector<Session*> targets;
  for (const Subscriber& sub : local.subscribers) {
    if (sub.session && sub.session->client() != pub.publisher_client) targets.push_back(sub.session);
  }
  // Delivering may close a session (slow consumer), which unsubscribes it:
  // the list above is a snapshot, and a closing session ignores pushes.
  for (Session* s : targets) {
    auto format = static_cast<size_t>(s->format());
    if (!frames[format]) frames[format] = encode(static_cast<WireFormat>(format), pub);
    s->deliver(frames[format], pub);
  }
}

// {"push":{"channel":C,"event":{...}}} or {"push":{"channel":C,"join":{...}}}
net::Bytes Hub::encode(WireFormat format, const broker::Publication& pub) {
  push_json_.clear();
  protocol::JsonWriter w(&push_json_);
  w.raw("{\"push\":{\"channel\":").string(pub.channel);
  switch (pub.kind) {
    case broker::Publication::Kind::kEvent:
      w.raw(",\"event\":");
      writeEvent(w, pub);
      break;
    case broker::Publication::Kind::kJoin:
    case broker::Publication::Kind::kLeave:
      w.raw(pub.kind == broker::Publication::Kind::kJoin ? ",\"join\":" : ",\"leave\":");
      writeClientInfo(w, pub.publisher_client, pub.publisher_user, pub.payload);
      break;
  }
  w.raw("}}");
  return g_encoders[static_cast<size_t>(format)](push_json_, pub);
}

std::unordered_map<std::string, uint32_t> Hub::channelCounts(std::string_view pattern) const {
  std::unordered_map<std::string, uint32_t> counts;
  std::string pat(pattern);
  for (const auto& [name, local] : channels_) {
    if (!pat.empty() && ::fnmatch(pat.c_str(), name.c_str(), 0) != 0) continue;
    counts[name] = static_cast<uint32_t>(local.subscribers.size());
  }
  return counts;
}

std::vector<std::string> Hub::users() const {
  std::unordered_set<std::string> seen;
  for (const auto& [id, session] : sessions_) {
    if (session->connected()) seen.insert(session->user());
  }
  return {seen.begin(), seen.end()};
}

size_t Hub::forUser(std::string_view user, std::string_view client,
                    const std::function<void(Session&)>& fn) {
  // Collected first: fn may close sessions, which changes the index.
  std::vector<Session*> matches;
  for (const auto& [id, session] : sessions_) {
    if (session->connected() && session->user() == user &&
        (client.empty() || session->client() == client)) {
      matches.push_back(session);
    }
  }
  for (Session* s : matches) fn(*s);
  return matches.size();
}

void Hub::tick(int64_t now_ms) {
  if (index_ == 0) node_.broker().sweep(now_ms);
}

}  // namespace herald::core
