// The shared state of one herald-bench run: the phase every shard follows,
// each shard's counters and histograms, per-channel counters and the
// in-flight event slots of `fanout --window`. It lives in one anonymous
// shared mapping made before the worker processes are forked, so threads and
// processes read and write it alike.
//
// Thread-safety: every field is an atomic. Per-shard stats have one writer
// (that shard); the coordinator reads them. Channel counters and slots are
// written by several shards with atomic read-modify-write operations.
// Lifetime: created once by the parent, never freed (the process exits).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "histogram.h"

namespace herald::bench {

enum class Phase : int {
  kSetup = 0,  // nothing started
  kConnect,    // shards open their clients
  kRun,        // publishers publish (fanout, chat) or connections are held (idle, connect)
  kDrain,      // publishing stopped; waiting for deliveries still in flight
  kFinish,     // shards tally what is missing and report
  kExit,       // shards close everything and stop
};

// One shard's counters: written by that shard only.
struct ShardStats {
  std::atomic<uint64_t> started;       // connection attempts
  std::atomic<uint64_t> ready;         // connected (and subscribed)
  std::atomic<uint64_t> failed;        // attempts that did not become ready
  std::atomic<uint64_t> dropped;       // ready connections that closed before the end
  std::atomic<uint64_t> received;      // bench events delivered to subscribers
  std::atomic<uint64_t> out_of_order;  // deliveries older than one already seen
  std::atomic<uint64_t> missing;       // set at kFinish
  std::atomic<uint64_t> sent;          // chat messages / fanout events published
  std::atomic<uint64_t> publish_errors;
  std::atomic<int> finished;           // 1 once the kFinish tally is written
  std::atomic<int> has_error;
  char first_error[240];               // written once, before has_error becomes 1
  Histogram latency;                   // delivery latency of measured events
  Histogram connect_latency;           // start of TCP connect -> ready

  void add(std::atomic<uint64_t>& counter, uint64_t by = 1) {
    counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }
  void noteError(const char* text);
};

struct Control {
  std::atomic<int> phase;
  std::atomic<uint64_t> run_start_ns;      // kRun began
  std::atomic<uint64_t> measure_start_ns;  // run start + warmup: samples before are not recorded
  std::atomic<uint64_t> completed;         // fanout --window: events every subscriber has
  std::atomic<int> publisher_waiting;      // the publisher sleeps on the event fd
  int event_fd;                            // wakes the publisher (eventfd)
};

class Board {
 public:
  // Maps a board for `shards` shards, `channels` channels (or rooms) and
  // `slots` in-flight event slots (a power of two, or 0).
  static Board* create(size_t shards, size_t channels, size_t slots);

  Control& control() { return *control_; }
  ShardStats& shard(size_t i) { return shards_[i]; }
  size_t shardCount() const { return shard_count_; }
  size_t channelCount() const { return channel_count_; }

  Phase phase() const { return Phase(control_->phase.load(std::memory_order_acquire)); }
  void setPhase(Phase p) { control_->phase.store(int(p), std::memory_order_release); }

  // Events published on a channel, and those of them the server refused.
  std::atomic<uint64_t>& published(size_t channel) { return published_[channel]; }
  std::atomic<uint64_t>& refused(size_t channel) { return refused_[channel]; }
  // Subscribers of a channel that are ready now.
  std::atomic<uint32_t>& subscribers(size_t channel) { return subscribers_[channel]; }
  // Deliveries still due for an in-flight event.
  std::atomic<uint32_t>& slot(uint64_t event) { return slots_[event & (slot_count_ - 1)]; }
  bool hasSlots() const { return slot_count_ != 0; }

 private:
  Control* control_ = nullptr;
  ShardStats* shards_ = nullptr;
  std::atomic<uint64_t>* published_ = nullptr;
  std::atomic<uint64_t>* refused_ = nullptr;
  std::atomic<uint32_t>* subscribers_ = nullptr;
  std::atomic<uint32_t>* slots_ = nullptr;
  size_t shard_count_ = 0, channel_count_ = 0, slot_count_ = 0;
};

}  // namespace herald::bench
