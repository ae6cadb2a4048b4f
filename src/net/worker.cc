#include "net/worker.h"

#include <sys/socket.h>

#include <asio/socket_base.hpp>
#include <chrono>

namespace herald::net {

int64_t steadyNowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

Worker::Worker(unsigned index, const WorkerLimits& limits)
    : index_(index),
      limits_(limits),
      receive_buffer_(new char[kReceiveBufferSize]),
      now_ms_(steadyNowMs()) {}

Worker::~Worker() {
  stop();
  join();
}

void Worker::listen(const asio::ip::tcp::endpoint& endpoint, HandlerFactory factory) {
  factory_ = std::move(factory);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  int one = 1;
  if (::setsockopt(acceptor_.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    throw std::system_error(errno, std::system_category(), "SO_REUSEPORT");
  }
  acceptor_.bind(endpoint);
  acceptor_.listen(4096);
}

uint16_t Worker::port() const {
  std::error_code ec;
  auto ep = acceptor_.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void Worker::start() {
  thread_ = std::thread([this] {
    thread_id_ = std::this_thread::get_id();
    accept();
    tick();
    io_.run();
  });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::stop() { io_.stop(); }

void Worker::updateNow() { now_ms_ = steadyNowMs(); }

void Worker::accept() {
  if (!acceptor_.is_open()) return;
  acceptor_.async_accept(io_.get_executor(), [this](const std::error_code& ec, Connection::Socket socket) {
    if (ec == asio::error::operation_aborted || shutting_down_) return;
    if (!ec) {
      updateNow();
      std::error_code ep_ec;
      auto remote = socket.remote_endpoint(ep_ec);
      std::string ip = ep_ec ? std::string() : remote.address().to_string();
      uint64_t id = (next_connection_id_++ << 8) | index_;
      auto conn = std::make_shared<Connection>(*this, std::move(socket), id, std::move(ip), now_ms_);
      if (auto handler = factory_(*conn)) {
        connections_.emplace(conn.get(), conn);
        num_connections_.store(connections_.size(), std::memory_order_relaxed);
        conn->start(std::move(handler));
      }
    }
    // On errors such as EMFILE keep accepting: the next attempt may succeed
    // once connections close; the tick paces nothing here, asio retries.
    accept();
  });
}

void Worker::tick() {
  updateNow();
  // A snapshot: ticking may close connections, which erases them.
  std::vector<std::shared_ptr<Connection>> snapshot;
  snapshot.reserve(connections_.size());
  for (auto& [ptr, conn] : connections_) snapshot.push_back(conn);
  for (auto& conn : snapshot) conn->tick(now_ms_);
  if (tick_hook_) tick_hook_(now_ms_);
  tick_timer_.expires_after(std::chrono::seconds(1));
  tick_timer_.async_wait([this](const std::error_code& ec) {
    if (!ec) tick();
  });
}

void Worker::scheduleFlush(std::shared_ptr<Connection> connection) {
  dirty_.push_back(std::move(connection));
  if (!flush_posted_) {
    flush_posted_ = true;
    // Posted, not run now: everything already queued on the loop (more
    // publications, more input) adds to the same writes first.
    asio::post(io_, [this] { flushAll(); });
  }
}

void Worker::flushAll() {
  flush_posted_ = false;
  updateNow();
  // Flushing may queue more (a close after the last bytes): loop until calm.
  while (!dirty_.empty()) {
    flushing_.swap(dirty_);
    for (auto& conn : flushing_) conn->flush();
    flushing_.clear();
  }
}

void Worker::remove(Connection* connection) {
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
  acceptor_.close(ec);
  std::vector<std::shared_ptr<Connection>> snapshot;
  for (auto& [ptr, conn] : connections_) snapshot.push_back(conn);
  for (auto& conn : snapshot) conn->shutdown();
}

}  // namespace herald::net
