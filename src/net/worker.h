// Worker: one thread, one asio::io_context, its SO_REUSEPORT listening
// sockets (the client port, and the API port when it is separate) and the
// connections it accepted, which never move to another worker. It
// owns the receive buffer all its connections share and the list of
// connections to flush at the end of the loop turn. Everything here runs on
// the worker's thread; other threads talk to it only through post().
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "net/connection.h"
#include "net/flush_pacer.h"
#include "net/slab.h"

namespace herald::net {

struct WorkerLimits {
  size_t max_queue_bytes = 4 * 1024 * 1024;
  // The longest a flush round is held back when the worker is saturated by
  // writes (see flush_pacer.h); 0 = never.
  int64_t max_flush_delay_ns = 2'000'000;
};

// Makes the first handler of a freshly accepted connection (or returns null
// to refuse it, e.g. over a connection limit).
using HandlerFactory =
    std::function<std::unique_ptr<ConnectionHandler>(Connection&)>;

class Worker {
 public:
  Worker(unsigned index, const WorkerLimits& limits);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Opens a listening socket (SO_REUSEPORT, so every worker can bind the
  // same address); returns its index for port() and setTls(). With `tls`,
  // it speaks only TLS. Throws std::system_error on failure.
  size_t listen(const asio::ip::tcp::endpoint& endpoint, HandlerFactory factory,
                std::shared_ptr<const TlsContext> tls = nullptr);
  // The certificate for the listener's next handshakes (a reload); open
  // connections keep theirs. Worker thread only.
  void setTls(size_t listener, std::shared_ptr<const TlsContext> tls);
  void start();  // runs the loop on a new thread
  void join();
  // Closes the listener and asks every connection to say goodbye.
  void beginShutdown();
  // Stops the loop (connections left are dropped when the worker dies).
  void stop();

  // Runs fn on this worker's thread.
  template <typename Fn>
  void post(Fn&& fn) { asio::post(io_, std::forward<Fn>(fn)); }

  unsigned index() const { return index_; }
  asio::io_context& io() { return io_; }
  const WorkerLimits& limits() const { return limits_; }
  // Readable from any thread.
  size_t numConnections() const { return num_connections_.load(std::memory_order_relaxed); }
  // Called on the worker's thread once a second, after the connections' ticks.
  void setTickHook(std::function<void(int64_t now_ms)> hook) { tick_hook_ = std::move(hook); }
  uint16_t port(size_t listener = 0) const;
  // Set by beginShutdown(): no more accepting, clients being told.
  bool shuttingDown() const { return shutting_down_; }

  // Connection internals.
  char* receiveBuffer() { return receive_buffer_.get(); }
  static constexpr size_t kReceiveBufferSize = 64 * 1024;
  // Small frames bound for a TLS connection are gathered here into one
  // record (the most a TLS record carries).
  char* recordBuffer() { return record_buffer_.get(); }
  static constexpr size_t kTlsRecordBytes = 16 * 1024;
  // The size of asio's operation for Connection's read wait with asio 1.22
  // (measured; should another asio make it larger, it comes from operator
  // new instead, which still works).
  static constexpr size_t kWaitOpBytes = 96;
  void scheduleFlush(std::shared_ptr<Connection> connection);
  void remove(Connection* connection);
  int64_t nowMs() const { return now_ms_; }
  // Memory for each connection's pending read wait (see slab.h).
  SlabPool& waitPool() { return wait_pool_; }

  // Whether this thread is this worker's loop thread.
  bool onThisThread() const { return std::this_thread::get_id() == thread_id_; }

 private:
  struct Listener {
    explicit Listener(asio::io_context& io) : acceptor(io) {}
    asio::ip::tcp::acceptor acceptor;
    HandlerFactory factory;
    std::shared_ptr<const TlsContext> tls;  // null: plaintext
  };

  void accept(Listener& listener);
  void onAccepted(Listener& listener, Connection::Socket&& socket);
  void tick();
  void flushAll();
  void updateNow();
  void measureFlushing();

  const unsigned index_;
  const WorkerLimits limits_;
  // Before io_: pending operations are destroyed with the io_context and
  // give their memory back to the pool.
  SlabPool wait_pool_{kWaitOpBytes};
  asio::io_context io_{1};
  std::vector<std::unique_ptr<Listener>> listeners_;
  asio::steady_timer tick_timer_{io_};
  asio::steady_timer flush_timer_{io_};
  std::thread thread_;
  std::thread::id thread_id_;
  std::unique_ptr<char[]> receive_buffer_;
  std::unique_ptr<char[]> record_buffer_;  // only with a TLS listener
  std::unordered_map<Connection*, std::shared_ptr<Connection>> connections_;
  std::vector<std::shared_ptr<Connection>> dirty_;
  std::vector<std::shared_ptr<Connection>> flushing_;
  std::vector<Connection*> closed_while_ticking_;
  bool ticking_ = false;
  std::function<void(int64_t)> tick_hook_;
  std::atomic<size_t> num_connections_{0};
  FlushPacer pacer_;
  bool flush_posted_ = false;
  bool shutting_down_ = false;
  uint64_t next_connection_id_ = 1;
  int64_t now_ms_ = 0;
};

}  // namespace herald::net
