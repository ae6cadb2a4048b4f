#include "load.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <memory>
#include <thread>
#include <unordered_map>

#include <asio.hpp>

#include "board.h"
#include "clock.h"
#include "http_publisher.h"
#include "jwt.h"
#include "proc_stats.h"
#include "session.h"

namespace herald::bench {
namespace {

constexpr uint64_t kSecond = 1000000000ull;

uint64_t seconds(double s) { return s <= 0 ? 0 : uint64_t(s * 1e9); }

std::string channelName(const LoadConfig& c, uint32_t group) { return c.channel_prefix + std::to_string(group); }

// How many publisher connections a fanout channel has, so a subscriber
// knows how many independent sequences it sees.
uint32_t streamsPerChannel(const LoadConfig& c) {
  if (c.scenario != Scenario::kFanout) return c.scenario == Scenario::kChat ? c.room_size : 1;
  if (c.publish_http) return c.publishers;
  if (c.proto == Proto::kPlainWs) return 1;
  return c.publishers > c.groups ? (c.publishers + c.groups - 1) / c.groups : 1;
}

std::string withCommas(uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

class FanoutPublisher;

// One io_context and the clients it owns: those whose id % shard count is
// its index. Follows the board's phase, polled on a short timer.
class Shard : public Session::Owner {
 public:
  Shard(const LoadConfig& config, Board* board, size_t index, size_t count)
      : config_(config), board_(board), stats_(board->shard(index)), index_(index), count_(count),
        timer_(io_), remote_(asio::ip::make_address(config.url.ip), config.url.port) {}

  asio::io_context& io() { return io_; }
  Board* board() { return board_; }
  const LoadConfig& config() const { return config_; }

  // Called on each tick of shard 0 of the first process, before its own work.
  std::function<void(uint64_t now)> coordinator;
  FanoutPublisher* publisher = nullptr;  // in this shard, if any

  void run();
  void stop() { io_.stop(); }
  uint64_t measureStart() const { return measure_start_; }
  asio::ip::address sourceFor(uint32_t id) const {
    if (config_.source_addrs <= 1) return asio::ip::make_address_v4("127.0.0.1");
    return asio::ip::address_v4(0x7F000001u + id % config_.source_addrs);
  }

  // Session::Owner
  void onReady(Session& s) override;
  void onEvent(Session& s, const Marker& m) override;
  void onFailed(Session& s, std::string_view why) override;
  void onPublishReply(Session& s, bool error, std::string_view text) override;

 private:
  void armTimer();
  void tick();
  void enterPhase(Phase phase, uint64_t now);
  void startMore(uint64_t now);
  void expireHandshakes(uint64_t now);
  void sendChat(uint64_t now);
  void tally();
  void completeEvent();

  const LoadConfig& config_;
  Board* board_;
  ShardStats& stats_;
  const size_t index_, count_;
  asio::io_context io_;
  asio::steady_timer timer_;
  asio::ip::tcp::endpoint remote_;
  Phase phase_ = Phase::kSetup;
  uint64_t measure_start_ = ~uint64_t(0);

  std::vector<std::unique_ptr<Session>> clients_;
  size_t next_start_ = 0;
  uint32_t in_flight_ = 0;
  uint64_t ramp_start_ = 0;
  std::deque<Session*> handshakes_;  // in start order, for the handshake timeout
  uint64_t last_expiry_check_ = 0;

  // chat: a timer armed at the next message's scheduled time
  asio::steady_timer chat_timer_{io_};
  uint64_t chat_start_ = 0, chat_sent_ = 0;
  size_t chat_next_ = 0;
  std::vector<uint64_t> chat_seq_;  // per client of this shard
  std::string scratch_;
};

// The publishing side of `fanout`: WebSocket publisher clients or HTTP API
// connections on shard 0, publishing at --rate or as fast as --window allows.
class FanoutPublisher : public Session::Owner {
 public:
  FanoutPublisher(Shard& shard) : shard_(shard), config_(shard.config()), board_(shard.board()), wake_(shard.io()) {}

  void connect();
  bool ready() const { return ready_ == expected_ready_; }
  bool failed() const { return failed_; }
  const std::string& error() const { return error_; }
  void start(uint64_t now);
  void stop() {
    running_ = false;
    pace_.cancel();
  }
  bool running() const { return running_; }
  void closeAll();
  uint64_t issued() const { return issued_; }
  uint64_t errors() const { return errors_; }
  // A subscriber on shard 0 completed an event.
  void notifyLocal() {
    if (pump_posted_) return;
    pump_posted_ = true;
    asio::post(shard_.io(), [this] { pump(); });
  }

  // Session::Owner
  void onReady(Session&) override { ++ready_; }
  void onEvent(Session&, const Marker&) override {}
  void onFailed(Session& s, std::string_view why) override { noteFailure(why); }
  void onPublishReply(Session& s, bool error, std::string_view text) override;

 private:
  struct Pending {
    uint32_t channel;
    uint32_t stream;  // index among the channel's publishers
    uint32_t seq;
    uint64_t intended_ns;
  };
  void noteFailure(std::string_view why) {
    if (!failed_) error_ = std::string(why);
    failed_ = true;
  }
  void pump();
  void pace(uint64_t now);
  void armWake();
  void issue(uint64_t intended_ns);
  void refuse(uint64_t event, uint32_t channel);
  bool limitReached() const { return config_.max_events && issued_ >= config_.max_events; }

  Shard& shard_;
  const LoadConfig& config_;
  Board* board_;
  asio::posix::stream_descriptor wake_;
  asio::steady_timer pace_{shard_.io()};
  std::vector<std::unique_ptr<Session>> sessions_;
  std::vector<std::unique_ptr<HttpPublisher>> http_;
  std::unordered_map<Session*, std::deque<std::pair<uint64_t, uint32_t>>> awaiting_;  // event, channel
  std::unordered_map<uint64_t, Pending> pending_http_;
  std::vector<std::vector<uint32_t>> streams_;  // channel -> publisher indexes
  std::vector<std::vector<uint32_t>> seqs_;     // channel -> per stream seq
  std::vector<uint32_t> round_robin_;
  uint32_t expected_ready_ = 0, ready_ = 0;
  bool failed_ = false;
  std::string error_;
  bool running_ = false, pump_posted_ = false;
  uint64_t start_ns_ = 0, issued_ = 0, errors_ = 0;
  uint32_t next_channel_ = 0;
  std::string payload_;
};

// ---------------------------------------------------------------- Shard

void Shard::run() {
  for (uint64_t id = index_; id < config_.clients; id += count_) {
    auto s = std::make_unique<Session>(io_, this, config_.proto);
    s->id = uint32_t(id);
    s->group = config_.scenario == Scenario::kChat ? uint32_t(id / config_.room_size) : uint32_t(id % config_.groups);
    s->next_seq.assign(streamsPerChannel(config_), 1);
    clients_.push_back(std::move(s));
  }
  chat_seq_.assign(clients_.size(), 0);
  armTimer();
  io_.run();
}

void Shard::armTimer() {
  timer_.expires_after(std::chrono::milliseconds(5));
  timer_.async_wait([this](const asio::error_code& error) {
    if (!error) tick();
  });
}

void Shard::tick() {
  uint64_t now = nowNs();
  if (coordinator) coordinator(now);
  Phase phase = board_->phase();
  if (phase != phase_) enterPhase(phase, now);
  if (phase_ == Phase::kExit) return;
  if (phase_ >= Phase::kConnect) {
    startMore(now);
    if (now - last_expiry_check_ > 100 * 1000000ull) {
      expireHandshakes(now);
      last_expiry_check_ = now;
    }
  }
  armTimer();
}

void Shard::enterPhase(Phase phase, uint64_t now) {
  phase_ = phase;
  measure_start_ = board_->control().measure_start_ns.load(std::memory_order_acquire);
  if (measure_start_ == 0) measure_start_ = ~uint64_t(0);
  switch (phase) {
    case Phase::kConnect:
      ramp_start_ = now;
      break;
    case Phase::kRun:
      chat_start_ = now;
      if (config_.scenario == Scenario::kChat) sendChat(now);
      break;
    case Phase::kFinish:
      tally();
      break;
    case Phase::kExit:
      for (auto& c : clients_) c->close();
      timer_.cancel();
      chat_timer_.cancel();
      io_.stop();
      break;
    default:
      break;
  }
}

void Shard::startMore(uint64_t now) {
  if (next_start_ >= clients_.size()) return;
  const uint32_t concurrency = std::max<uint32_t>(1, config_.connect_concurrency / uint32_t(count_));
  uint64_t allowed = clients_.size();
  if (config_.scenario == Scenario::kConnect && config_.rate > 0) {
    const double per_shard = config_.rate / double(count_);
    allowed = std::min<uint64_t>(allowed, uint64_t(double(now - ramp_start_) * per_shard / 1e9) + 1);
  }
  while (next_start_ < clients_.size() && in_flight_ < concurrency && next_start_ < allowed) {
    Session& s = *clients_[next_start_++];
    std::vector<std::string> channels;
    const bool subscribes = config_.scenario == Scenario::kFanout || config_.scenario == Scenario::kChat || config_.subscribe;
    std::string channel = channelName(config_, s.group);
    if (subscribes) channels.push_back(channel);
    std::string token;
    if (!config_.token_secret.empty())
      // The "channels" claim is Herald's subscribe permission; Centrifugo
      // would read it as server-side subscriptions.
      token = makeHs256Token(config_.token_secret, "u" + std::to_string(s.id),
                             subscribes && (config_.proto == Proto::kHerald || config_.proto == Proto::kHeraldSse)
                                 ? channel
                                 : "",
                             3600);
    s.start_ns = nowNs();
    ++in_flight_;
    stats_.add(stats_.started);
    handshakes_.push_back(&s);
    // For Socket.IO, plain WebSocket and SSE the room comes with the
    // upgrade, even for clients that do not "subscribe".
    if (channels.empty() && (config_.proto == Proto::kSocketIo || config_.proto == Proto::kPlainWs ||
                             config_.proto == Proto::kHeraldSse))
      channels.push_back(channel);
    s.start(remote_, sourceFor(s.id), config_.url.hostHeader(), config_.url.path, std::move(channels), token);
  }
}

void Shard::expireHandshakes(uint64_t now) {
  const uint64_t limit = seconds(config_.connect_timeout_s);
  while (!handshakes_.empty()) {
    Session* s = handshakes_.front();
    const auto state = s->state();
    if (state == Session::State::kReady || state == Session::State::kDead) {
      handshakes_.pop_front();
      continue;
    }
    if (now < s->start_ns + limit) break;
    handshakes_.pop_front();
    s->close();
    onFailed(*s, "timed out connecting");
  }
}

void Shard::onReady(Session& s) {
  const uint64_t now = nowNs();
  --in_flight_;
  s.was_ready = true;
  stats_.add(stats_.ready);
  stats_.connect_latency.record(now - s.start_ns);
  board_->subscribers(s.group).fetch_add(1, std::memory_order_relaxed);
  if (config_.close_when_ready) {
    board_->subscribers(s.group).fetch_sub(1, std::memory_order_relaxed);
    s.close();
  }
  startMore(now);
}

void Shard::onFailed(Session& s, std::string_view why) {
  std::string text = std::string(why);
  if (s.was_ready) {
    if (phase_ >= Phase::kFinish) return;
    stats_.add(stats_.dropped);
    board_->subscribers(s.group).fetch_sub(1, std::memory_order_relaxed);
    stats_.noteError(("client " + std::to_string(s.id) + " dropped: " + text).c_str());
    return;
  }
  --in_flight_;
  stats_.add(stats_.failed);
  stats_.noteError(("client " + std::to_string(s.id) + ": " + text).c_str());
  if (phase_ < Phase::kFinish) startMore(nowNs());
}

void Shard::onPublishReply(Session& s, bool error, std::string_view text) {
  if (!error) return;
  stats_.add(stats_.publish_errors);
  board_->refused(s.group).fetch_add(1);
  stats_.noteError(("publish refused: " + std::string(text)).c_str());
}

void Shard::onEvent(Session& s, const Marker& m) {
  const uint64_t now = tl_read_ns;
  stats_.add(stats_.received);
  if (m.sent_ns >= measure_start_ && now >= m.sent_ns) stats_.latency.record(now - m.sent_ns);
  if (m.stream < s.next_seq.size()) {
    uint32_t& next = s.next_seq[m.stream];
    if (m.seq >= next) {
      next = uint32_t(m.seq + 1);
      ++s.received;
    } else {
      ++s.out_of_order;
      stats_.add(stats_.out_of_order);
    }
  } else {
    ++s.out_of_order;
    stats_.add(stats_.out_of_order);
  }
  if (board_->hasSlots()) {
    auto& slot = board_->slot(m.event);
    uint32_t left = slot.load(std::memory_order_relaxed);
    while (left != 0 && !slot.compare_exchange_weak(left, left - 1, std::memory_order_acq_rel)) {
    }
    if (left == 1) completeEvent();
  }
}

void Shard::completeEvent() {
  Control& ctl = board_->control();
  ctl.completed.fetch_add(1, std::memory_order_seq_cst);
  if (publisher) return publisher->notifyLocal();
  if (ctl.publisher_waiting.load(std::memory_order_seq_cst) && ctl.publisher_waiting.exchange(0)) {
    uint64_t one = 1;
    ssize_t n = ::write(ctl.event_fd, &one, sizeof one);
    (void)n;
  }
}

void Shard::sendChat(uint64_t now) {
  if (clients_.empty() || config_.rate <= 0 || phase_ != Phase::kRun) return;
  const double per_s = config_.rate * double(clients_.size());
  // Message k (from 0) is due at chat_start_ + k / per_s; latency counts
  // from then, so a late send (a busy bench or server) is not hidden.
  auto due_at = [&](uint64_t k) { return chat_start_ + uint64_t(double(k) * 1e9 / per_s); };
  size_t guard = 0;
  while (due_at(chat_sent_) <= now && guard++ < 100000) {
    const size_t i = chat_next_++ % clients_.size();
    Session& s = *clients_[i];
    const uint64_t intended = due_at(chat_sent_);
    ++chat_sent_;
    if (s.state() != Session::State::kReady) continue;
    Marker m;
    m.event = 0;
    m.stream = s.id % config_.room_size;
    m.seq = ++chat_seq_[i];
    m.sent_ns = intended;
    scratch_.clear();
    appendPayload(&scratch_, config_.payload, m);
    board_->published(s.group).fetch_add(1, std::memory_order_relaxed);
    stats_.add(stats_.sent);
    s.publish(channelName(config_, s.group), scratch_);
  }
  chat_timer_.expires_at(std::chrono::steady_clock::time_point(std::chrono::nanoseconds(due_at(chat_sent_))));
  chat_timer_.async_wait([this](const asio::error_code& error) {
    if (!error) sendChat(nowNs());
  });
}

void Shard::tally() {
  uint64_t missing = 0;
  for (auto& c : clients_) {
    if (!c->was_ready) continue;
    const uint64_t expected = board_->published(c->group).load() - board_->refused(c->group).load();
    if (expected > c->received) missing += expected - c->received;
  }
  stats_.missing.store(missing);
  stats_.finished.store(1, std::memory_order_release);
}

// ---------------------------------------------------------------- FanoutPublisher

void FanoutPublisher::connect() {
  const uint32_t channels = config_.groups;
  const bool plain = config_.proto == Proto::kPlainWs;
  // plain WebSocket rooms are URL paths: one publisher per channel.
  const uint32_t count = plain && !config_.publish_http ? channels : config_.publishers;
  streams_.assign(channels, {});
  for (uint32_t ch = 0; ch < channels; ++ch) {
    if (config_.publish_http) {
      for (uint32_t p = 0; p < count; ++p) streams_[ch].push_back(p);
    } else if (count >= channels) {
      for (uint32_t p = ch; p < count; p += channels) streams_[ch].push_back(p);
    } else {
      streams_[ch].push_back(ch % count);
    }
  }
  seqs_.assign(channels, {});
  for (uint32_t ch = 0; ch < channels; ++ch) seqs_[ch].assign(streams_[ch].size(), 0);
  round_robin_.assign(channels, 0);
  expected_ready_ = count;

  const asio::ip::tcp::endpoint remote(asio::ip::make_address(config_.url.ip), config_.url.port);
  if (config_.publish_http) {
    const asio::ip::tcp::endpoint api(asio::ip::make_address(config_.api_url.ip), config_.api_url.port);
    for (uint32_t p = 0; p < count; ++p) {
      auto http = std::make_unique<HttpPublisher>(
          shard_.io(), api, config_.api_url.hostHeader(), config_.api_url.path, config_.api_key,
          [this](uint64_t event, std::string* body) {
            auto it = pending_http_.find(event);
            if (it == pending_http_.end()) return;
            Marker m;
            m.event = event;
            m.stream = it->second.stream;
            m.seq = it->second.seq;
            // Window mode times the request from its write; rate mode from
            // when it was due, so a queue in front of the server counts.
            m.sent_ns = config_.rate > 0 ? it->second.intended_ns : nowNs();
            payload_.clear();
            appendPayload(&payload_, config_.payload, m);
            appendHttpPublishBody(body, config_.proto, channelName(config_, it->second.channel), payload_);
          },
          [this](uint64_t event, bool ok, std::string_view detail) {
            auto it = pending_http_.find(event);
            const uint32_t channel = it == pending_http_.end() ? 0 : it->second.channel;
            if (it != pending_http_.end()) pending_http_.erase(it);
            if (!ok) {
              if (errors_ == 0) error_ = "publish refused: " + std::string(detail);
              refuse(event, channel);
            }
          });
      http->connect([this](bool ok, std::string_view why) {
        if (ok) ++ready_;
        else noteFailure("API connection: " + std::string(why));
      });
      http_.push_back(std::move(http));
    }
    return;
  }
  for (uint32_t p = 0; p < count; ++p) {
    auto s = std::make_unique<Session>(shard_.io(), this, config_.proto);
    s->publisher = true;
    s->id = p;
    std::vector<std::string> channels;
    if (plain) {
      channels.push_back(channelName(config_, p));
    } else if (config_.proto == Proto::kHerald) {
      // Herald's default namespace lets subscribers publish: subscribe to
      // every channel this publisher serves.
      for (uint32_t ch = 0; ch < config_.groups; ++ch)
        if (std::find(streams_[ch].begin(), streams_[ch].end(), p) != streams_[ch].end())
          channels.push_back(channelName(config_, ch));
    }
    std::string token;
    if (!config_.token_secret.empty()) token = makeHs256Token(config_.token_secret, "publisher" + std::to_string(p), "", 3600);
    s->start(remote, shard_.sourceFor(p), config_.url.hostHeader(), config_.url.path, std::move(channels), token);
    sessions_.push_back(std::move(s));
  }
}

void FanoutPublisher::closeAll() {
  running_ = false;
  for (auto& s : sessions_) s->close();
  for (auto& h : http_) h->close();
  asio::error_code ignored;
  wake_.close(ignored);
}

void FanoutPublisher::start(uint64_t now) {
  start_ns_ = now;
  running_ = true;
  if (config_.rate <= 0) {
    wake_.assign(dup(board_->control().event_fd));
    armWake();
    pump();
  } else {
    pace(now);
  }
}

void FanoutPublisher::pace(uint64_t now) {
  if (!running_) return;
  // Event k (from 0) is due at start + k / rate.
  auto due_at = [&](uint64_t k) { return start_ns_ + uint64_t(double(k) * 1e9 / config_.rate); };
  while (due_at(issued_) <= now && !limitReached()) issue(due_at(issued_));
  for (auto& s : sessions_) s->flush();
  if (limitReached()) return;
  pace_.expires_at(std::chrono::steady_clock::time_point(std::chrono::nanoseconds(due_at(issued_))));
  pace_.async_wait([this](const asio::error_code& error) {
    if (!error) pace(nowNs());
  });
}

void FanoutPublisher::armWake() {
  wake_.async_wait(asio::posix::stream_descriptor::wait_read, [this](const asio::error_code& error) {
    if (error) return;
    uint64_t value;
    ssize_t n = ::read(wake_.native_handle(), &value, sizeof value);
    (void)n;
    pump();
    armWake();
  });
}

void FanoutPublisher::pump() {
  pump_posted_ = false;
  Control& ctl = board_->control();
  for (;;) {
    if (!running_) return;
    const uint64_t done = ctl.completed.load(std::memory_order_seq_cst);
    bool sent = false;
    while (issued_ - done < config_.window && !limitReached()) {
      issue(0);
      sent = true;
    }
    if (sent)
      for (auto& s : sessions_) s->flush();
    if (limitReached() || issued_ - done < config_.window) return;
    // The window is full: sleep until a shard completes an event. Check
    // again after raising the flag, so a completion in between is not lost.
    ctl.publisher_waiting.store(1, std::memory_order_seq_cst);
    if (ctl.completed.load(std::memory_order_seq_cst) == done) return;
    ctl.publisher_waiting.store(0, std::memory_order_seq_cst);
  }
}

void FanoutPublisher::issue(uint64_t intended_ns) {
  const uint64_t event = ++issued_;
  const uint32_t channel = next_channel_++ % config_.groups;
  const auto& streams = streams_[channel];
  const uint32_t k = round_robin_[channel]++ % uint32_t(streams.size());
  const uint32_t publisher = streams[k];
  const uint32_t seq = ++seqs_[channel][k];
  if (board_->hasSlots()) {
    const uint32_t target = board_->subscribers(channel).load(std::memory_order_relaxed);
    if (target == 0) board_->control().completed.fetch_add(1);
    else board_->slot(event).store(target, std::memory_order_release);
  }
  board_->published(channel).fetch_add(1, std::memory_order_relaxed);
  if (config_.publish_http) {
    pending_http_[event] = Pending{channel, k, seq, intended_ns};
    http_[publisher]->enqueue(event);
    return;
  }
  Marker m;
  m.event = event;
  m.stream = k;
  m.seq = seq;
  m.sent_ns = config_.rate > 0 ? intended_ns : nowNs();
  payload_.clear();
  appendPayload(&payload_, config_.payload, m);
  Session& s = *sessions_[publisher];
  if (s.state() != Session::State::kReady) return refuse(event, channel);
  if (config_.proto == Proto::kHerald || config_.proto == Proto::kCentrifugo) awaiting_[&s].emplace_back(event, channel);
  s.publish(channelName(config_, channel), payload_, true);
}

void FanoutPublisher::onPublishReply(Session& s, bool error, std::string_view text) {
  auto& queue = awaiting_[&s];
  if (queue.empty()) return;
  auto [event, channel] = queue.front();
  queue.pop_front();
  if (error) {
    if (errors_ == 0) error_ = "publish refused: " + std::string(text);
    refuse(event, channel);
  }
}

void FanoutPublisher::refuse(uint64_t event, uint32_t channel) {
  ++errors_;
  board_->refused(channel).fetch_add(1);
  if (board_->hasSlots()) {
    // Nobody will receive it: release its place in the window.
    if (board_->slot(event).exchange(0) != 0) {
      board_->control().completed.fetch_add(1);
      notifyLocal();
    }
  }
}

// ---------------------------------------------------------------- Coordinator

struct Totals {
  uint64_t started = 0, ready = 0, failed = 0, dropped = 0, received = 0, out_of_order = 0, missing = 0,
           sent = 0, publish_errors = 0;
  int finished = 0;
  std::string first_error;
};

Totals totals(Board* board) {
  Totals t;
  for (size_t i = 0; i < board->shardCount(); ++i) {
    ShardStats& s = board->shard(i);
    t.started += s.started.load();
    t.ready += s.ready.load();
    t.failed += s.failed.load();
    t.dropped += s.dropped.load();
    t.received += s.received.load();
    t.out_of_order += s.out_of_order.load();
    t.missing += s.missing.load();
    t.sent += s.sent.load();
    t.publish_errors += s.publish_errors.load();
    t.finished += s.finished.load(std::memory_order_acquire);
    if (t.first_error.empty() && s.has_error.load(std::memory_order_acquire)) t.first_error = s.first_error;
  }
  return t;
}

class Coordinator {
 public:
  Coordinator(const LoadConfig& config, Board* board, Shard& shard, std::vector<pid_t> workers)
      : config_(config), board_(board), shard_(shard), workers_(std::move(workers)) {}

  void tick(uint64_t now);
  bool done() const { return done_; }
  Result result() { return result_; }
  void mergeLatency(Histogram* out) {
    for (size_t i = 0; i < board_->shardCount(); ++i) out->add(board_->shard(i).latency);
  }

 private:
  void progress(uint64_t now, const Totals& t);
  void finish(uint64_t now, const Totals& t);
  uint64_t expectedDeliveries() {
    uint64_t sum = 0;
    for (size_t ch = 0; ch < board_->channelCount(); ++ch)
      sum += (board_->published(ch).load() - board_->refused(ch).load()) * board_->subscribers(ch).load();
    return sum;
  }
  uint64_t eventsSoFar(const Totals& t) const {
    return config_.scenario == Scenario::kFanout ? (publisher_ ? publisher_->issued() : 0) : t.sent;
  }
  ProcSample benchSample() {
    ProcSample total = sampleProcess(getpid());
    for (pid_t w : workers_) {
      ProcSample s = sampleProcess(w);
      total.cpu_ns += s.cpu_ns;
    }
    return total;
  }

  const LoadConfig& config_;
  Board* board_;
  Shard& shard_;
  std::vector<pid_t> workers_;
  std::unique_ptr<FanoutPublisher> publisher_;
  Result result_;
  bool done_ = false;

  uint64_t connect_start_ = 0, connect_end_ = 0, run_start_ = 0, measure_start_ = 0, run_end_ = 0;
  uint64_t drain_start_ = 0, last_progress_ = 0, last_change_ = 0, last_seen_ = ~uint64_t(0);
  uint64_t finish_start_ = 0, last_worker_check_ = 0;
  bool measuring_ = false, stalled_ = false;
  uint64_t received_at_measure_ = 0, events_at_measure_ = 0, received_at_end_ = 0, events_at_end_ = 0;
  uint64_t last_received_ = 0, last_events_ = 0, last_completed_ = 0, last_completed_change_ = 0;
  ProcSample server_before_, server_start_, server_end_, bench_start_, bench_end_;
  Histogram merged_, previous_, interval_;
};

void Coordinator::tick(uint64_t now) {
  if (done_) return;
  if (now - last_worker_check_ > kSecond / 2) {
    last_worker_check_ = now;
    for (pid_t w : workers_) {
      int status = 0;
      if (waitpid(w, &status, WNOHANG) == w) {
        fprintf(stderr, "herald-bench: worker process %d died (status %d); stopping\n", int(w), status);
        board_->setPhase(Phase::kExit);
        for (pid_t other : workers_) kill(other, SIGTERM);
        exit(3);
      }
    }
  }
  const Phase phase = board_->phase();
  const Totals t = totals(board_);
  if (now - last_progress_ >= kSecond && phase != Phase::kSetup) {
    progress(now, t);
    last_progress_ = now;
  }
  switch (phase) {
    case Phase::kSetup:
      if (config_.server_pid) server_before_ = sampleProcess(config_.server_pid);
      if (config_.scenario == Scenario::kConnect) {
        // The connect scenario measures the ramp itself.
        server_start_ = server_before_;
        bench_start_ = benchSample();
      }
      connect_start_ = now;
      last_change_ = now;
      last_progress_ = now;
      if (config_.scenario == Scenario::kFanout) {
        publisher_ = std::make_unique<FanoutPublisher>(shard_);
        shard_.publisher = publisher_.get();
        publisher_->connect();
      }
      board_->setPhase(Phase::kConnect);
      return;

    case Phase::kConnect: {
      const uint64_t settled = t.ready + t.failed;
      if (settled != last_seen_) {
        last_seen_ = settled;
        last_change_ = now;
      }
      if (publisher_ && publisher_->failed()) {
        result_.first_error = "publisher: " + publisher_->error();
        fprintf(stderr, "herald-bench: %s\n", result_.first_error.c_str());
        return finish(now, t);
      }
      const bool all = settled >= config_.clients;
      const bool stuck = now - last_change_ > seconds(config_.connect_timeout_s) + 5 * kSecond;
      if (!all && !stuck) return;
      if (!all) fprintf(stderr, "herald-bench: connecting stalled at %llu of %u clients; going on\n",
                        (unsigned long long)settled, config_.clients);
      if (connect_end_ == 0) connect_end_ = now;
      if (publisher_ && !publisher_->ready()) {
        if (now - connect_end_ > seconds(config_.connect_timeout_s)) {
          result_.first_error = "publisher connections did not become ready";
          return finish(now, t);
        }
        return;
      }
      if (config_.scenario == Scenario::kIdle && now - connect_end_ < seconds(config_.settle_s)) return;
      // The measured part starts here.
      run_start_ = now;
      measure_start_ = now + seconds(config_.warmup_s);
      board_->control().run_start_ns.store(run_start_);
      board_->control().measure_start_ns.store(measure_start_, std::memory_order_release);
      if (config_.scenario == Scenario::kConnect) {
        if (config_.server_pid) server_end_ = sampleProcess(config_.server_pid);
        bench_end_ = benchSample();
        measuring_ = true;
        if (config_.hold_s <= 0) {
          run_end_ = now;
          return finish(now, t);
        }
      } else {
        if (config_.server_pid) server_start_ = sampleProcess(config_.server_pid);
        bench_start_ = benchSample();
      }
      if (config_.warmup_s <= 0) {
        measuring_ = true;
        received_at_measure_ = t.received;
        events_at_measure_ = eventsSoFar(t);
      }
      board_->setPhase(Phase::kRun);
      if (publisher_) publisher_->start(now);
      last_completed_change_ = now;
      return;
    }

    case Phase::kRun: {
      if (!measuring_ && now >= measure_start_) {
        measuring_ = true;
        received_at_measure_ = t.received;
        events_at_measure_ = eventsSoFar(t);
        if (config_.server_pid) server_start_ = sampleProcess(config_.server_pid);
        bench_start_ = benchSample();
      }
      bool over = false;
      if (config_.scenario == Scenario::kFanout) {
        over = config_.max_events ? publisher_->issued() >= config_.max_events
                                  : now >= measure_start_ + seconds(config_.duration_s);
        if (publisher_->failed() && !stalled_) {
          result_.first_error = "publisher: " + publisher_->error();
          over = true;
        }
        // Window mode with no completion for a while: events were lost.
        const uint64_t completed = board_->control().completed.load();
        if (completed != last_completed_) {
          last_completed_ = completed;
          last_completed_change_ = now;
        } else if (config_.rate <= 0 && publisher_->issued() > completed &&
                   now - last_completed_change_ > seconds(config_.stall_s)) {
          fprintf(stderr, "herald-bench: no event completed for %.1f s: %llu in flight never reached every subscriber\n",
                  config_.stall_s, (unsigned long long)(publisher_->issued() - completed));
          stalled_ = true;
          over = true;
        }
      } else if (config_.scenario == Scenario::kChat) {
        over = now >= measure_start_ + seconds(config_.duration_s);
      } else {
        over = now >= run_start_ + seconds(config_.hold_s);
      }
      if (!over) return;
      if (!measuring_) {  // a run shorter than the warmup: measure it all
        received_at_measure_ = 0;
        events_at_measure_ = 0;
        measure_start_ = run_start_;
        measuring_ = true;
      }
      run_end_ = now;
      received_at_end_ = t.received;
      events_at_end_ = eventsSoFar(t);
      if (config_.scenario != Scenario::kConnect) {
        if (config_.server_pid) server_end_ = sampleProcess(config_.server_pid);
        bench_end_ = benchSample();
      }
      if (publisher_) publisher_->stop();
      if (config_.scenario == Scenario::kFanout || config_.scenario == Scenario::kChat) {
        drain_start_ = now;
        board_->setPhase(Phase::kDrain);
      } else {
        finish(now, t);
      }
      return;
    }

    case Phase::kDrain:
      if (t.received >= expectedDeliveries() || now - drain_start_ > seconds(config_.drain_s)) finish(now, t);
      return;

    case Phase::kFinish: {
      if (finish_start_ == 0) finish_start_ = now;
      if (size_t(t.finished) < board_->shardCount() && now - finish_start_ < 10 * kSecond) return;
      const Totals f = totals(board_);
      Result& r = result_;
      r.clients = config_.clients;
      r.ready = f.ready;
      r.failed = f.failed + (config_.clients > f.started ? config_.clients - f.started : 0);
      r.dropped = f.dropped;
      r.missing = f.missing;
      r.out_of_order = f.out_of_order;
      r.publish_errors = f.publish_errors + (publisher_ ? publisher_->errors() : 0);
      r.stalled = stalled_;
      if (r.first_error.empty()) r.first_error = f.first_error;
      if (r.first_error.empty() && publisher_ && !publisher_->error().empty()) r.first_error = publisher_->error();
      if (connect_end_ == 0) connect_end_ = now;
      r.connect_s = double(connect_end_ - connect_start_) / 1e9;
      r.connects_per_s = r.connect_s > 0 ? double(f.ready) / r.connect_s : 0;
      Histogram connect;
      for (size_t i = 0; i < board_->shardCount(); ++i) connect.add(board_->shard(i).connect_latency);
      r.connect_latency = summarize(connect);
      merged_.reset();
      mergeLatency(&merged_);
      r.latency = summarize(merged_);
      r.latency_curve = percentileCurve(merged_);
      if (run_end_ > measure_start_ && measuring_) {
        r.measured_s = double(run_end_ - measure_start_) / 1e9;
        r.events = events_at_end_ - events_at_measure_;
        r.deliveries = received_at_end_ - received_at_measure_;
        r.events_per_s = double(r.events) / r.measured_s;
        r.deliveries_per_s = double(r.deliveries) / r.measured_s;
      }
      r.total_events = eventsSoFar(f);
      r.total_deliveries = f.received;
      if (config_.server_pid) {
        r.has_server = true;
        r.server_cpu_percent = cpuPercent(server_start_, server_end_);
        r.server_rss_before = server_before_.rss_bytes;
        ProcSample after = server_end_.ok ? server_end_ : sampleProcess(config_.server_pid);
        r.server_rss_after = config_.scenario == Scenario::kIdle ? server_start_.rss_bytes : after.rss_bytes;
        if (config_.scenario == Scenario::kIdle && f.ready > 0 && server_start_.rss_bytes > server_before_.rss_bytes)
          r.server_rss_per_connection = double(server_start_.rss_bytes - server_before_.rss_bytes) / double(f.ready);
      }
      r.bench_cpu_percent = cpuPercent(bench_start_, bench_end_);
      if (publisher_) publisher_->closeAll();
      board_->setPhase(Phase::kExit);
      done_ = true;
      return;
    }

    default:
      return;
  }
}

void Coordinator::finish(uint64_t now, const Totals&) {
  if (run_end_ == 0) {
    run_end_ = now;
    if (config_.server_pid && !server_end_.ok) server_end_ = sampleProcess(config_.server_pid);
    if (!bench_end_.ok) bench_end_ = benchSample();
  }
  if (publisher_) publisher_->stop();
  board_->setPhase(Phase::kFinish);
}

void Coordinator::progress(uint64_t now, const Totals& t) {
  if (config_.quiet) return;
  const double elapsed = double(now - connect_start_) / 1e9;
  const Phase phase = board_->phase();
  const char* name = phase == Phase::kConnect ? "connect" : phase == Phase::kRun ? "run" : phase == Phase::kDrain ? "drain" : "finish";
  merged_.reset();
  mergeLatency(&merged_);
  interval_.setDifference(merged_, previous_);
  previous_.reset();
  previous_.add(merged_);
  const uint64_t events = eventsSoFar(t);
  const double dt = last_progress_ ? double(now - last_progress_) / 1e9 : 1.0;
  std::string line = "[" + std::to_string(int(elapsed)) + "s] " + name + "  conns " + withCommas(t.ready - t.dropped) +
                     "/" + withCommas(config_.clients);
  if (t.failed) line += " (" + withCommas(t.failed) + " failed)";
  if (config_.scenario == Scenario::kFanout || config_.scenario == Scenario::kChat) {
    line += "  sent " + withCommas(events) + "  recv " + withCommas(t.received) + "  rate " +
            withCommas(uint64_t(double(t.received - last_received_) / dt)) + "/s";
    if (interval_.count()) {
      char buf[96];
      snprintf(buf, sizeof buf, "  p50 %.3f ms  p99 %.3f ms", double(interval_.percentile(50)) / 1e6,
               double(interval_.percentile(99)) / 1e6);
      line += buf;
    }
  } else {
    line += "  connects " + withCommas(uint64_t(double(t.ready - last_events_) / dt)) + "/s";
    Histogram connect;
    for (size_t i = 0; i < board_->shardCount(); ++i) connect.add(board_->shard(i).connect_latency);
    if (connect.count()) {
      char buf[96];
      snprintf(buf, sizeof buf, "  connect p50 %.3f ms  p99 %.3f ms", double(connect.percentile(50)) / 1e6,
               double(connect.percentile(99)) / 1e6);
      line += buf;
    }
    last_events_ = t.ready;
  }
  if (config_.server_pid) {
    ProcSample s = sampleProcess(config_.server_pid);
    if (s.ok) line += "  server RSS " + std::to_string(s.rss_bytes / (1024 * 1024)) + " MiB";
  }
  last_received_ = t.received;
  fprintf(stderr, "%s\n", line.c_str());
}

void raiseFileLimit() {
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

// Runs the shards of one process: `first`..`first + threads - 1`.
void runShards(const LoadConfig& config, Board* board, size_t first, size_t total,
               Shard** coordinator_shard_out, const std::function<void(Shard&)>& on_shard0) {
  std::vector<std::unique_ptr<Shard>> shards;
  for (size_t t = 0; t < config.threads; ++t)
    shards.push_back(std::make_unique<Shard>(config, board, first + t, total));
  if (on_shard0) on_shard0(*shards[0]);
  if (coordinator_shard_out) *coordinator_shard_out = shards[0].get();
  std::vector<std::thread> threads;
  for (size_t t = 1; t < shards.size(); ++t) threads.emplace_back([&, t] { shards[t]->run(); });
  shards[0]->run();
  for (auto& th : threads) th.join();
}

}  // namespace

const char* scenarioName(Scenario s) {
  switch (s) {
    case Scenario::kFanout: return "fanout";
    case Scenario::kChat: return "chat";
    case Scenario::kConnect: return "connect";
    case Scenario::kIdle: return "idle";
  }
  return "?";
}

Result runLoad(const LoadConfig& config, Histogram* latency) {
  raiseFileLimit();
  const size_t total_shards = size_t(config.procs) * config.threads;
  size_t slots = 0;
  if (config.scenario == Scenario::kFanout && config.rate <= 0) {
    slots = 1;
    while (slots < size_t(config.window) * 4) slots <<= 1;
  }
  Board* board = Board::create(total_shards, std::max<uint32_t>(config.groups, 1), slots);

  std::vector<pid_t> workers;
  for (uint32_t p = 1; p < config.procs; ++p) {
    fflush(nullptr);
    pid_t pid = fork();
    if (pid < 0) {
      perror("herald-bench: fork");
      exit(1);
    }
    if (pid == 0) {
      runShards(config, board, size_t(p) * config.threads, total_shards, nullptr, nullptr);
      _exit(0);
    }
    workers.push_back(pid);
  }

  std::unique_ptr<Coordinator> coordinator;
  runShards(config, board, 0, total_shards, nullptr, [&](Shard& shard0) {
    coordinator = std::make_unique<Coordinator>(config, board, shard0, workers);
    shard0.coordinator = [&](uint64_t now) { coordinator->tick(now); };
  });
  for (pid_t w : workers) {
    int status = 0;
    waitpid(w, &status, 0);
  }
  Result r = coordinator->result();
  r.scenario = scenarioName(config.scenario);
  r.proto = protoName(config.proto);
  r.url = "ws://" + config.url.hostHeader() + (config.url.path.empty() ? defaultWsPath(config.proto) : config.url.path);
  r.settings = config.settings;
  if (latency) coordinator->mergeLatency(latency);
  return r;
}

}  // namespace herald::bench
