#include "net/connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include <asio/bind_allocator.hpp>

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
  // The head may be half written: keep it, or the peer sees a torn frame.
  size_t keep = head_offset_ > 0 ? 1 : 0;
  for (size_t i = head_ + keep; i < queue_.size(); ++i) queued_bytes_ -= queue_[i].size();
  queue_.resize(head_ + keep);
}

void Connection::markDirty() {
  if (dirty_ || write_blocked_) return;
  dirty_ = true;
  worker_.scheduleFlush(shared_from_this());
}

void Connection::flush() {
  dirty_ = false;
  if (state_ == State::kClosed || write_blocked_) return;
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
    size_t left = static_cast<size_t>(written);
    queued_bytes_ -= left;
    while (left > 0) {
      size_t rest = queue_[head_].size() - head_offset_;
      if (left >= rest) {
        left -= rest;
        queue_[head_++] = Bytes();
        head_offset_ = 0;
      } else {
        head_offset_ += left;
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
  if (state_ == State::kFlushingToClose) halfClose();
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
