// Connection: one accepted TCP socket on one worker, for its whole life.
// Reads wait for readability and then read into the worker's shared receive
// buffer, so an idle connection holds no read buffer. Writes are queued as
// Bytes handles and flushed once per loop turn with one writev (corked), the
// queue bounded in bytes. What the bytes mean is the job of the current
// ConnectionHandler (HTTP first, then perhaps WebSocket or SSE). On a TLS
// listener the same queue goes through a TlsStream (see tls_stream.h), which
// a plaintext connection does not have: one null pointer is all TLS costs it.
// Owned by its Worker through a shared_ptr that pending I/O also holds; used
// only on the worker's thread.
#pragma once

#include <sys/uio.h>

#include <asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/bytes.h"
#include "net/send_result.h"

namespace herald::net {

class Connection;
class TlsContext;
class TlsStream;
class Worker;

// Why a TLS connection was refused before it carried any request.
enum class TlsFailure : uint8_t {
  kPlaintext,  // plain HTTP sent to the TLS port
  kHandshake,  // no common protocol version or cipher, bad records
};

// The protocol spoken on a connection. Called on the worker's thread.
class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  // Bytes arrived. `data` is the worker's receive buffer: mutable (WebSocket
  // unmasks in place) and valid only during the call.
  virtual void onData(char* data, size_t len) = 0;
  // Once a second: timeouts, pings. `now_ms` is steady-clock milliseconds.
  virtual void onTick(int64_t now_ms) {}
  // The server is shutting down: say goodbye (and close).
  virtual void onShutdown() { }
  // The connection is gone (closed by either side); release what refers to it.
  virtual void onClosed() {}
  // The out-queue drained after having been blocked (backpressure relief).
  virtual void onDrained() {}
  // TLS failed; the connection closes right after this call.
  virtual void onTlsFailure(TlsFailure why) {}
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // Bound to the worker's io_context by type: a plain pointer where the
  // default any_io_executor would add tens of bytes to the socket and to
  // every pending operation.
  using Socket = asio::basic_stream_socket<asio::ip::tcp, asio::io_context::executor_type>;

  Connection(Worker& worker, Socket&& socket, uint64_t id,
             std::string remote_ip, int64_t now_ms);
  ~Connection();

  // Makes this a TLS connection (before start()); false if OpenSSL cannot
  // make a session, and the connection should be dropped.
  bool enableTls(std::shared_ptr<const TlsContext> context);
  void start(std::unique_ptr<ConnectionHandler> handler);
  // Replaces the handler (e.g. after a WebSocket upgrade). Safe to call from
  // within the current handler's onData: the old one is destroyed later.
  void setHandler(std::unique_ptr<ConnectionHandler> handler);

  // Queues bytes for writing; flushed at the end of this loop turn.
  SendResult send(Bytes bytes);
  SendResult send(std::string_view bytes) { return send(Bytes::copyOf(bytes)); }
  // Like send, but ignores the byte limit: for the few bytes that end a
  // connection (a close frame) after an overflow.
  SendResult sendFinal(Bytes bytes);
  // Drops everything queued that has not started to go out.
  void discardQueued();

  // Flushes what is queued, then half-closes and waits for the peer to close
  // (at most `linger_ms`); reads after this are discarded.
  void closeAfterFlush(int64_t linger_ms = 2000);
  // Closes the socket now; queued bytes are dropped.
  void abort();

  uint64_t id() const { return id_; }
  const std::string& remoteIp() const { return remote_ip_; }
  int64_t acceptedAtMs() const { return accepted_ms_; }
  int64_t lastReadMs() const { return last_read_ms_; }
  size_t queuedBytes() const { return queued_bytes_; }
  bool closing() const { return state_ != State::kOpen; }
  // A TLS connection whose handshake has not completed yet.
  bool handshaking() const;
  Worker& worker() { return worker_; }

  // Worker internals.
  void flush();
  void tick(int64_t now_ms);
  void shutdown();

 private:
  enum class State : uint8_t { kOpen, kFlushingToClose, kLingering, kClosed };

  void waitReadable();
  void onReadable();
  void onReadableTls();
  void flushTls();
  void flushOwnReplies();
  // Takes `written` bytes off the front of the queue.
  void consume(size_t written);
  // Copies queued bytes from the head into `out` (at most `cap`).
  size_t gather(char* out, size_t cap) const;
  void waitWritable();
  void markDirty();
  void finishClose();
  void halfClose();

  Worker& worker_;
  Socket socket_;
  const uint64_t id_;
  const std::string remote_ip_;
  const int64_t accepted_ms_;
  int64_t last_read_ms_;
  int64_t close_deadline_ms_ = 0;
  std::unique_ptr<ConnectionHandler> handler_;
  std::unique_ptr<ConnectionHandler> retired_;
  std::vector<Bytes> queue_;   // queue_[head_..] waits to be written
  // 32 bits are plenty (a frame and the queue are bounded by 32-bit limits)
  // and leave room for tls_ without growing an idle connection.
  uint32_t head_ = 0;
  uint32_t head_offset_ = 0;   // bytes of queue_[head_] already written
  size_t queued_bytes_ = 0;
  std::unique_ptr<TlsStream> tls_;  // null for plaintext
  State state_ = State::kOpen;
  bool dirty_ = false;          // in the worker's flush list
  bool write_blocked_ = false;  // waiting for writability
  bool reading_ = false;        // an async_wait for reading is pending
  bool in_handler_ = false;
};

}  // namespace herald::net
