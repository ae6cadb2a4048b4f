// Hub: one worker's shard of the node. It indexes the worker's sessions and
// which of them subscribe to which channel, and fans a publication out to
// them: the publication is prepared once per wire format, and each
// subscriber's out-queue gets a handle to the same bytes. Runs only on its
// worker's thread; other threads reach it through Worker::post.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "broker/broker.h"
#include "core/transport.h"
#include "metrics/metrics.h"
#include "net/bytes.h"
#include "protocol/command_parser.h"

namespace herald::net {
class Worker;
}

namespace herald::core {

class Node;
class Session;

// Wraps a push's JSON into a prepared frame of one wire format.
using FrameEncoder = net::Bytes (*)(std::string_view json, const broker::Publication& pub);

class Hub {
 public:
  Hub(Node& node, net::Worker& worker, metrics::WorkerMetrics& metrics);
  ~Hub();

  // Registered once at start-up, before any worker runs.
  static void setEncoder(WireFormat format, FrameEncoder encoder);

  Node& node() { return node_; }
  net::Worker& worker() { return worker_; }
  unsigned index() const { return index_; }
  metrics::WorkerMetrics& metrics() { return metrics_; }
  protocol::CommandParser& commandParser() { return command_parser_; }
  // The command being handled: one per worker, not one per session (that
  // would cost every idle connection its size). Sessions handle one
  // command at a time and never from within another's handling.
  protocol::Command& command() { return command_; }
  // A scratch buffer for building one reply at a time.
  std::string& scratch() { scratch_.clear(); return scratch_; }

  void addSession(Session* session);
  void removeSession(Session* session);
  Session* findSession(uint64_t connection_id);
  size_t numSessions() const { return sessions_.size(); }

  // Adds `session` to the channel's local subscribers once the broker knows
  // this worker wants the channel; done(result) follows, with the
  // publications after `since` when they could be recovered. The session
  // then gets every publication after result.position live: none twice,
  // none missing, whatever was in flight while it subscribed.
  void subscribe(Session* session, std::string_view channel, const broker::Position* since,
                 std::function<void(const broker::SubscribeResult&)> done);
  void unsubscribe(Session* session, std::string_view channel);

  // A publication from the broker, in offset order per channel. Callable
  // from any thread: publications wait in an inbox that the worker drains
  // in arrival order, with one wake-up per batch. (asio::post alone would
  // not do: a handler posted from the worker's own thread is queued apart
  // from those posted by other threads, so the order between them is lost.)
  void enqueue(broker::PublicationPtr pub);
  // Delivers a publication (or a join/leave) to the local subscribers;
  // worker thread only.
  void deliver(const broker::PublicationPtr& pub);

  // For the server API (run through Node::gather).
  std::unordered_map<std::string, uint32_t> channelCounts(std::string_view pattern) const;
  std::vector<std::string> users() const;
  // Runs fn on each connected session of `user` (and `client`, if not
  // empty); returns how many.
  size_t forUser(std::string_view user, std::string_view client,
                 const std::function<void(Session&)>& fn);

  // Periodic work (broker sweep on worker 0).
  void tick(int64_t now_ms);

 private:
  struct Subscriber {
    Session* session;
    uint64_t after;  // deliver offsets greater than this
  };
  struct LocalChannel {
    std::vector<Subscriber> subscribers;
    bool has_holes = false;  // entries removed during a delivery
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  net::Bytes encode(WireFormat format, const broker::Publication& pub);
  void deliverPresence(const LocalChannel& local, const broker::Publication& pub);
  void drainInbox();

  Node& node_;
  net::Worker& worker_;
  const unsigned index_;
  metrics::WorkerMetrics& metrics_;
  protocol::CommandParser command_parser_;
  protocol::Command command_;
  std::string scratch_;
  std::string push_json_;
  std::unordered_map<uint64_t, Session*> sessions_;
  std::unordered_map<std::string, LocalChannel, StringHash, std::equal_to<>> channels_;
  const LocalChannel* delivering_ = nullptr;

  std::mutex inbox_mu_;
  std::vector<broker::PublicationPtr> inbox_;    // guarded by inbox_mu_
  bool drain_posted_ = false;                    // guarded by inbox_mu_
  std::vector<broker::PublicationPtr> draining_;  // worker thread only
};

}  // namespace herald::core
