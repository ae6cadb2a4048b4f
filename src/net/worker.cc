#include "net/worker.h"

#include <sys/socket.h>

#include <asio/socket_base.hpp>
#include <chrono>

#include <spdlog/spdlog.h>

#include "base/clock.h"

namespace herald::net {

using base::steadyNowMs;
using base::steadyNowNs;

Worker::Worker(unsigned index, const WorkerLimits& limits)
    : index_(index),
      limits_(limits),
      receive_buffer_(new char[kReceiveBufferSize]),
      pacer_(limits.max_flush_delay_ns, steadyNowNs()),
      now_ms_(steadyNowMs()) {}

Worker::~Worker() {
  stop();
  join();
}

size_t Worker::listen(const asio::ip::tcp::endpoint& endpoint, HandlerFactory factory,
                      std::shared_ptr<const TlsContext> tls) {
  auto listener = std::make_unique<Listener>(io_);
  asio::ip::tcp::acceptor& acceptor = listener->acceptor;
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  int one = 1;
  if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    throw std::system_error(errno, std::system_category(), "SO_REUSEPORT");
  }
  acceptor.bind(endpoint);
  acceptor.listen(4096);
  listener->factory = std::move(factory);
  listeners_.push_back(std::move(listener));
  setTls(listeners_.size() - 1, std::move(tls));
  return listeners_.size() - 1;
}

void Worker::setTls(size_t listener, std::shared_ptr<const TlsContext> tls) {
  if (tls && !record_buffer_) record_buffer_.reset(new char[kTlsRecordBytes]);
  listeners_.at(listener)->tls = std::move(tls);
}

uint16_t Worker::port(size_t listener) const {
  if (listener >= listeners_.size()) return 0;
  std::error_code ec;
  auto ep = listeners_[listener]->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void Worker::start() {
  thread_ = std::thread([this] {
    thread_id_ = std::this_thread::get_id();
    for (auto& listener : listeners_) accept(*listener);
    tick();
    io_.run();
  });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::stop() { io_.stop(); }

void Worker::updateNow() { now_ms_ = steadyNowMs(); }

void Worker::accept(Listener& listener) {
  if (!listener.acceptor.is_open()) return;
  listener.acceptor.async_accept(
      io_.get_executor(), [this, &listener](const std::error_code& ec, Connection::Socket socket) {
        if (ec == asio::error::operation_aborted || shutting_down_) return;
        if (!ec) onAccepted(listener, std::move(socket));
        // On errors such as EMFILE keep accepting: the next attempt may
        // succeed once connections close; the tick paces nothing here,
        // asio retries.
        accept(listener);
      });
}

void Worker::onAccepted(Listener& listener, Connection::Socket&& socket) {
  updateNow();
  std::error_code ep_ec;
  auto remote = socket.remote_endpoint(ep_ec);
  std::string ip = ep_ec ? std::string() : remote.address().to_string();
  uint64_t id = (next_connection_id_++ << 8) | index_;
  auto conn = std::make_shared<Connection>(*this, std::move(socket), id, std::move(ip), now_ms_);
  if (listener.tls && !conn->enableTls(listener.tls)) return;
  if (auto handler = listener.factory(*conn)) {
    connections_.emplace(conn.get(), conn);
    num_connections_.store(connections_.size(), std::memory_order_relaxed);
    conn->start(std::move(handler));
  }
}

void Worker::tick() {
  updateNow();
  // Ticking may close connections: they leave the map after the loop (no
  // copy of every connection's pointer each second).
  ticking_ = true;
  for (auto& [ptr, conn] : connections_) conn->tick(now_ms_);
  ticking_ = false;
  for (Connection* conn : closed_while_ticking_) remove(conn);
  closed_while_ticking_.clear();
  if (tick_hook_) tick_hook_(now_ms_);
  measureFlushing();
  tick_timer_.expires_after(std::chrono::seconds(1));
  tick_timer_.async_wait([this](const std::error_code& ec) {
    if (!ec) tick();
  });
}

void Worker::scheduleFlush(std::shared_ptr<Connection> connection) {
  dirty_.push_back(std::move(connection));
  if (flush_posted_) return;
  flush_posted_ = true;
  if (pacer_.spacing()) {
    if (int64_t wait_ns = pacer_.delay(steadyNowNs())) {
      flush_timer_.expires_after(std::chrono::nanoseconds(wait_ns));
      flush_timer_.async_wait([this](const std::error_code& ec) {
        if (!ec) flushAll();
      });
      return;
    }
  }
  // Posted, not run now: everything already queued on the loop (more
  // publications, more input) adds to the same writes first.
  asio::post(io_, [this] { flushAll(); });
}

void Worker::flushAll() {
  flush_posted_ = false;
  const int64_t start_ns = steadyNowNs();
  now_ms_ = start_ns / 1'000'000;
  // Flushing may queue more (a close after the last bytes): loop until calm.
  while (!dirty_.empty()) {
    flushing_.swap(dirty_);
    for (auto& conn : flushing_) conn->flush();
    flushing_.clear();
  }
  pacer_.roundDone(start_ns, steadyNowNs());
}

void Worker::measureFlushing() {
  if (!pacer_.windowDone(steadyNowNs())) return;
  if (pacer_.spacing()) {
    spdlog::info("worker {}: flushing took {:.0f}% of the last second; spacing flush rounds so "
                 "that queued events share each connection's write",
                 index_, pacer_.lastShare() * 100);
  } else {
    spdlog::info("worker {}: flushing took {:.0f}% of the last second; flushing at once again",
                 index_, pacer_.lastShare() * 100);
  }
}

void Worker::remove(Connection* connection) {
  if (ticking_) {
    closed_while_ticking_.push_back(connection);
    return;
  }
  auto it = connections_.find(connection);
  if (it == connections_.end()) return;
  // Keep the object alive until the current handler returns.
  auto keep = std::move(it->second);
  connections_.erase(it);
  num_connections_.store(connections_.size(), std::memory_order_relaxed);
  asio::post(io_, [keep = std::move(keep)] {});
}

void Worker::beginShutdown() {
  shutting_down_ = true;
  std::error_code ec;
  for (auto& listener : listeners_) listener->acceptor.close(ec);
  std::vector<std::shared_ptr<Connection>> snapshot;
  for (auto& [ptr, conn] : connections_) snapshot.push_back(conn);
  for (auto& conn : snapshot) conn->shutdown();
}

}  // namespace herald::net
