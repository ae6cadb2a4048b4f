#include "net/connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include <asio/bind_allocator.hpp>

#include "net/tls_stream.h"
#include "net/worker.h"

namespace herald::net {

namespace {
// iovecs per sendmsg: enough to carry a burst of small frames in one syscall.
constexpr size_t kMaxIov = 64;
// A read loop yields to other connections after this many bytes.
constexpr size_t kMaxReadPerTurn = 4 * Worker::kReceiveBufferSize;
}  // namespace

Connection::Connection(Worker& worker, Socket&& socket, uint64_t id,
                       std::string remote_ip, int64_t now_ms)
    : worker_(worker),
      socket_(std::move(socket)),
      id_(id),
      remote_ip_(std::move(remote_ip)),
      accepted_ms_(now_ms),
      last_read_ms_(now_ms) {}

Connection::~Connection() = default;

bool Connection::enableTls(std::shared_ptr<const TlsContext> context) {
  tls_ = TlsStream::create(std::move(context), socket_.native_handle());
  return tls_ != nullptr;
}

bool Connection::handshaking() const { return tls_ && !tls_->established(); }

void Connection::start(std::unique_ptr<ConnectionHandler> handler) {
  handler_ = std::move(handler);
  std::error_code ec;
  socket_.non_blocking(true, ec);
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  waitReadable();
}

void Connection::setHandler(std::unique_ptr<ConnectionHandler> handler) {
  retired_ = std::move(handler_);
  handler_ = std::move(handler);
  if (!in_handler_) retired_.reset();
}

SendResult Connection::send(Bytes bytes) {
  if (state_ != State::kOpen) return SendResult::kClosed;
  if (queued_bytes_ + bytes.size() > worker_.limits().max_queue_bytes) {
    return SendResult::kOverflow;
  }
  return sendFinal(std::move(bytes));
}

SendResult Connection::sendFinal(Bytes bytes) {
  if (state_ == State::kLingering || state_ == State::kClosed) return SendResult::kClosed;
  if (bytes.size() == 0) return SendResult::kOk;
  queued_bytes_ += bytes.size();
  queue_.push_back(std::move(bytes));
  markDirty();
  return SendResult::kOk;
}

void Connection::discardQueued() {
  // The head may be half written, and a blocked TLS record must be retried
  // with its bytes: keep the frames they belong to, or the peer sees a torn
  // frame.
  size_t keep_bytes = tls_ ? tls_->blocked_write : 0;
  size_t end = head_;
  size_t covered = 0;
  if (head_offset_ > 0 && end < queue_.size()) covered += queue_[end++].size() - head_offset_;
  while (covered < keep_bytes && end < queue_.size()) covered += queue_[end++].size();
  for (size_t i = end; i < queue_.size(); ++i) queued_bytes_ -= queue_[i].size();
  queue_.resize(end);
}

void Connection::markDirty() {
  if (dirty_ || write_blocked_) return;
  dirty_ = true;
  worker_.scheduleFlush(shared_from_this());
}

void Connection::flush() {
  dirty_ = false;
  if (state_ == State::kClosed || write_blocked_) return;
  if (tls_) return flushTls();
  while (head_ < queue_.size()) {
    iovec iov[kMaxIov];
    size_t n = 0;
    for (size_t i = head_; i < queue_.size() && n < kMaxIov; ++i, ++n) {
      size_t skip = (i == head_) ? head_offset_ : 0;
      iov[n].iov_base = const_cast<char*>(queue_[i].data()) + skip;
      iov[n].iov_len = queue_[i].size() - skip;
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = n;
    // sendmsg rather than writev: MSG_NOSIGNAL, no SIGPIPE from a gone peer.
    ssize_t written = ::sendmsg(socket_.native_handle(), &msg, MSG_NOSIGNAL);
    if (written < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        waitWritable();
        return;
      }
      abort();
      return;
    }
    consume(static_cast<size_t>(written));
  }
  if (state_ == State::kFlushingToClose) halfClose();
}

void Connection::consume(size_t written) {
  size_t left = written;
  queued_bytes_ -= left;
  while (left > 0) {
    size_t rest = queue_[head_].size() - head_offset_;
    if (left >= rest) {
      left -= rest;
      queue_[head_++] = Bytes();
      head_offset_ = 0;
    } else {
      head_offset_ += static_cast<uint32_t>(left);
      left = 0;
    }
  }
  // Compact so a queue that never drains completely does not grow forever.
  if (head_ == queue_.size()) {
    queue_.clear();
    head_ = 0;
    if (queue_.capacity() > 256) queue_.shrink_to_fit();
  } else if (head_ > 64 && head_ * 2 > queue_.size()) {
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(head_));
    head_ = 0;
  }
}

// One SSL_write is one TLS record and, through the socket BIO, one send():
// small frames are copied into the worker's record buffer so a burst still
// leaves in a few syscalls; a frame of a record or more, or a lone frame, is
// written from where it lies.
void Connection::flushTls() {
  if (tls_->read_wants_write) {
    tls_->read_wants_write = false;
    onReadableTls();
    if (state_ == State::kClosed) return;
  }
  while (head_ < queue_.size()) {
    const char* data = queue_[head_].data() + head_offset_;
    size_t len = queue_[head_].size() - head_offset_;
    if (len < Worker::kTlsRecordBytes && head_ + 1 < queue_.size()) {
      len = gather(worker_.recordBuffer(), Worker::kTlsRecordBytes);
      data = worker_.recordBuffer();
    }
    TlsResult r = tls_->write(data, len);
    if (r.status == TlsStatus::kOk) {
      tls_->blocked_write = 0;
      consume(r.bytes);
      continue;
    }
    if (r.status == TlsStatus::kWantWrite) {
      tls_->blocked_write = len;
      waitWritable();
      return;
    }
    if (r.status == TlsStatus::kWantRead) {
      tls_->blocked_write = len;
      tls_->write_wants_read = true;
      return;
    }
    abort();
    return;
  }
  if (state_ == State::kFlushingToClose) halfClose();
}

size_t Connection::gather(char* out, size_t cap) const {
  size_t n = 0;
  for (size_t i = head_; i < queue_.size() && n < cap; ++i) {
    size_t skip = (i == head_) ? head_offset_ : 0;
    size_t take = std::min(queue_[i].size() - skip, cap - n);
    std::memcpy(out + n, queue_[i].data() + skip, take);
    n += take;
  }
  return n;
}

void Connection::waitWritable() {
  write_blocked_ = true;
  socket_.async_wait(asio::socket_base::wait_write,
                     [self = shared_from_this()](const std::error_code& ec) {
                       self->write_blocked_ = false;
                       if (ec || self->state_ == State::kClosed) return;
                       self->flush();
                       if (!self->write_blocked_ && self->handler_ && self->state_ == State::kOpen) {
                         self->in_handler_ = true;
                         self->handler_->onDrained();
                         self->in_handler_ = false;
                         self->retired_.reset();
                       }
                     });
}

void Connection::waitReadable() {
  if (reading_ || state_ == State::kClosed) return;
  reading_ = true;
  socket_.async_wait(asio::socket_base::wait_read,
                     asio::bind_allocator(SlabAllocator<void>(worker_.waitPool()),
                                          [self = shared_from_this()](const std::error_code& ec) {
                                            self->reading_ = false;
                                            if (ec) {
                                              if (self->state_ != State::kClosed) self->finishClose();
                                              return;
                                            }
                                            self->onReadable();
                                          }));
}

void Connection::onReadable() {
  if (tls_) return onReadableTls();
  char* buf = worker_.receiveBuffer();
  size_t total = 0;
  while (state_ != State::kClosed && total < kMaxReadPerTurn) {
    ssize_t n = ::recv(socket_.native_handle(), buf, Worker::kReceiveBufferSize, 0);
    if (n > 0) {
      total += static_cast<size_t>(n);
      last_read_ms_ = worker_.nowMs();
      if (state_ != State::kOpen) continue;  // closing: discard what arrives
      in_handler_ = true;
      handler_->onData(buf, static_cast<size_t>(n));
      in_handler_ = false;
      retired_.reset();
      if (static_cast<size_t>(n) < Worker::kReceiveBufferSize) break;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    finishClose();  // EOF or error
    return;
  }
  flushOwnReplies();
  waitReadable();
}

// What the peer's own input produced (replies, an HTTP response) leaves now
// rather than in the loop turn's flush round: a publisher's reply must not
// wait behind the fan-out its publication caused (a round of one send per
// subscriber). Other connections' deliveries still go out in the round.
void Connection::flushOwnReplies() {
  if (dirty_ && !write_blocked_ && state_ != State::kClosed) flush();
}

// Decrypts into the worker's receive buffer, like a plaintext read: a TLS
// connection keeps no read buffer of its own beyond OpenSSL's record buffer,
// which SSL_MODE_RELEASE_BUFFERS frees between records.
void Connection::onReadableTls() {
  char* buf = worker_.receiveBuffer();
  size_t total = 0;
  while (state_ != State::kClosed && total < kMaxReadPerTurn) {
    TlsResult r = tls_->read(buf, Worker::kReceiveBufferSize);
    if (r.status == TlsStatus::kOk) {
      total += r.bytes;
      last_read_ms_ = worker_.nowMs();
      if (state_ != State::kOpen) continue;  // closing: discard what arrives
      in_handler_ = true;
      handler_->onData(buf, r.bytes);
      in_handler_ = false;
      retired_.reset();
      continue;
    }
    if (r.status == TlsStatus::kWantRead) break;
    if (r.status == TlsStatus::kWantWrite) {
      tls_->read_wants_write = true;
      if (!write_blocked_) waitWritable();
      return;
    }
    // Refusals before the first request are the listener's business; a
    // broken record later just ends the connection.
    if ((r.status == TlsStatus::kPlaintext || r.status == TlsStatus::kFailed) && handler_ &&
        state_ == State::kOpen && !tls_->established()) {
      in_handler_ = true;
      handler_->onTlsFailure(r.status == TlsStatus::kPlaintext ? TlsFailure::kPlaintext
                                                               : TlsFailure::kHandshake);
      in_handler_ = false;
    }
    finishClose();
    return;
  }
  if (state_ == State::kClosed) return;
  if (tls_->write_wants_read) {
    tls_->write_wants_read = false;
    markDirty();
  }
  flushOwnReplies();
  if (state_ == State::kClosed) return;
  if (tls_->hasPending()) {
    // Decrypted bytes wait inside OpenSSL, where readiness never reports
    // them: come back on the next loop turn.
    reading_ = true;
    asio::post(worker_.io(), [self = shared_from_this()] {
      self->reading_ = false;
      if (self->state_ != State::kClosed) self->onReadableTls();
    });
    return;
  }
  waitReadable();
}

void Connection::closeAfterFlush(int64_t linger_ms) {
  if (state_ != State::kOpen) return;
  state_ = State::kFlushingToClose;
  close_deadline_ms_ = worker_.nowMs() + linger_ms;
  if (head_ == queue_.size()) {
    halfClose();
  } else {
    markDirty();
  }
}

void Connection::halfClose() {
  state_ = State::kLingering;
  if (tls_) tls_->shutdown();
  std::error_code ec;
  socket_.shutdown(asio::socket_base::shutdown_send, ec);
  if (ec) finishClose();
}

void Connection::abort() {
  if (state_ == State::kClosed) return;
  finishClose();
}

void Connection::finishClose() {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  std::error_code ec;
  socket_.close(ec);
  queue_.clear();
  head_ = head_offset_ = queued_bytes_ = 0;
  auto handler = std::move(handler_);
  if (handler) handler->onClosed();
  // Closed from inside a handler call: destroy the handler after it returns.
  if (in_handler_) retired_ = std::move(handler);
  worker_.remove(this);  // may drop the last owner but for `self` in callers
}

void Connection::tick(int64_t now_ms) {
  // An idle connection gives its out-queue's array back; a busy one makes a
  // new one at most once a second.
  if (queue_.empty() && queue_.capacity() != 0) std::vector<Bytes>().swap(queue_);
  if (state_ == State::kOpen) {
    in_handler_ = true;
    handler_->onTick(now_ms);
    in_handler_ = false;
    retired_.reset();
  } else if (state_ != State::kClosed && now_ms >= close_deadline_ms_) {
    finishClose();
  }
}

void Connection::shutdown() {
  if (state_ != State::kOpen) return;
  in_handler_ = true;
  handler_->onShutdown();
  in_handler_ = false;
  retired_.reset();
}

}  // namespace herald::net
