// The sink is as simple as a fast broadcast server gets: a frame is encoded
// once, appended to each room member's out-buffer, and every dirty
// connection is flushed with one send() per loop turn.
#include "sink.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/socket.h>

#include <asio.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <vector>

namespace herald::bench {
namespace {

constexpr size_t kReadBuffer = 256 * 1024;
constexpr size_t kMaxOut = 64 * 1024 * 1024;

class Sink;

class Conn : public std::enable_shared_from_this<Conn> {
 public:
  Conn(Sink* sink, asio::ip::tcp::socket socket) : sink_(sink), socket_(std::move(socket)) {}
  void start();
  void queue(const std::string& frame);
  void flush();
  void close();

  std::vector<Conn*>* room = nullptr;
  size_t room_index = 0;
  bool dirty = false;

 private:
  void armRead();
  void onReadable();
  size_t consume(char* data, size_t n);
  bool handshake(std::string_view head);

  Sink* sink_;
  asio::ip::tcp::socket socket_;
  bool open_ = false, dead_ = false, waiting_write_ = false;
  std::string in_, out_;
  size_t out_off_ = 0;
};

class Sink {
 public:
  Sink(asio::io_context& io, const asio::ip::tcp::endpoint& at) : io_(io), acceptor_(io, at) {}

  void accept() {
    acceptor_.async_accept([this](const asio::error_code& error, asio::ip::tcp::socket socket) {
      if (!error) {
        asio::error_code ignored;
        socket.set_option(asio::ip::tcp::no_delay(true), ignored);
        socket.non_blocking(true, ignored);
        auto conn = std::make_shared<Conn>(this, std::move(socket));
        conns_.emplace(conn.get(), conn);
        conn->start();
        return accept();
      }
      // Out of file descriptors (or another accept error): back off rather
      // than spin; connections wait in the backlog meanwhile.
      retry_.expires_after(std::chrono::milliseconds(50));
      retry_.async_wait([this](const asio::error_code&) { accept(); });
    });
  }

  void join(Conn* c, const std::string& path) {
    auto& members = rooms_[path];
    c->room = &members;
    c->room_index = members.size();
    members.push_back(c);
  }

  void leave(Conn* c) {
    if (c->room) {
      auto& members = *c->room;
      members[c->room_index] = members.back();
      members[c->room_index]->room_index = c->room_index;
      members.pop_back();
      c->room = nullptr;
    }
    conns_.erase(c);
  }

  void broadcast(std::vector<Conn*>& members, std::string_view payload) {
    frame_.clear();
    uint8_t head[10];
    size_t h = 0;
    head[h++] = 0x81;
    if (payload.size() < 126) {
      head[h++] = uint8_t(payload.size());
    } else if (payload.size() < 65536) {
      head[h++] = 126;
      head[h++] = uint8_t(payload.size() >> 8);
      head[h++] = uint8_t(payload.size());
    } else {
      head[h++] = 127;
      for (int i = 7; i >= 0; --i) head[h++] = uint8_t(uint64_t(payload.size()) >> (8 * i));
    }
    frame_.append(reinterpret_cast<char*>(head), h).append(payload);
    for (Conn* c : members) {
      c->queue(frame_);
      markDirty(c);
    }
  }

  void markDirty(Conn* c) {
    if (c->dirty) return;
    c->dirty = true;
    dirty_.push_back(c->shared_from_this());
    if (!flush_posted_) {
      flush_posted_ = true;
      asio::post(io_, [this] { flushAll(); });
    }
  }

  char* buffer() { return buffer_.get(); }

 private:
  void flushAll() {
    flush_posted_ = false;
    std::vector<std::shared_ptr<Conn>> dirty;
    dirty.swap(dirty_);
    for (auto& c : dirty) {
      c->dirty = false;
      c->flush();
    }
  }

  asio::io_context& io_;
  asio::ip::tcp::acceptor acceptor_;
  asio::steady_timer retry_{io_};
  std::unordered_map<Conn*, std::shared_ptr<Conn>> conns_;
  std::unordered_map<std::string, std::vector<Conn*>> rooms_;
  std::vector<std::shared_ptr<Conn>> dirty_;
  bool flush_posted_ = false;
  std::string frame_;
  std::unique_ptr<char[]> buffer_{new char[kReadBuffer]};
};

void Conn::start() { armRead(); }

void Conn::armRead() {
  auto self = shared_from_this();
  socket_.async_wait(asio::socket_base::wait_read, [this, self](const asio::error_code& error) {
    if (dead_) return;
    if (error) return close();
    onReadable();
  });
}

void Conn::onReadable() {
  char* buffer = sink_->buffer();
  for (;;) {
    ssize_t n = ::recv(socket_.native_handle(), buffer, kReadBuffer, 0);
    if (n > 0) {
      size_t used;
      if (in_.empty()) {
        used = consume(buffer, size_t(n));
        if (dead_) return;
        if (used < size_t(n)) in_.assign(buffer + used, size_t(n) - used);
      } else {
        in_.append(buffer, size_t(n));
        used = consume(in_.data(), in_.size());
        if (dead_) return;
        in_.erase(0, used);
      }
      if (size_t(n) < kReadBuffer) break;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    return close();
  }
  armRead();
}

bool Conn::handshake(std::string_view head) {
  size_t sp1 = head.find(' '), sp2 = head.find(' ', sp1 + 1);
  if (head.substr(0, 4) != "GET " || sp2 == std::string_view::npos) return false;
  std::string path(head.substr(sp1 + 1, sp2 - sp1 - 1));
  if (auto q = path.find('?'); q != std::string::npos) path.resize(q);
  std::string key;
  size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    size_t end = head.find("\r\n", pos + 2);
    if (end == std::string_view::npos) end = head.size();
    std::string_view line = head.substr(pos + 2, end - pos - 2);
    if (line.size() > 18 && strncasecmp(line.data(), "sec-websocket-key:", 18) == 0) {
      std::string_view v = line.substr(18);
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
      key = std::string(v);
    }
    pos = end;
  }
  if (key.empty()) return false;
  std::string text = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  char accept[64];
  EVP_EncodeBlock(reinterpret_cast<unsigned char*>(accept), digest, SHA_DIGEST_LENGTH);
  out_ += "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ";
  out_ += accept;
  out_ += "\r\n\r\n";
  sink_->join(this, path);
  open_ = true;
  flush();
  return true;
}

size_t Conn::consume(char* data, size_t n) {
  size_t pos = 0;
  if (!open_) {
    std::string_view text(data, n);
    size_t end = text.find("\r\n\r\n");
    if (end == std::string_view::npos) {
      if (n > 16384) close();
      return 0;
    }
    if (!handshake(text.substr(0, end))) {
      close();
      return 0;
    }
    pos = end + 4;
  }
  while (!dead_ && n - pos >= 2) {
    auto* p = reinterpret_cast<uint8_t*>(data + pos);
    const uint8_t opcode = p[0] & 0x0F;
    const bool masked = p[1] & 0x80;
    uint64_t len = p[1] & 0x7F;
    size_t head = 2;
    if (len == 126) {
      if (n - pos < 4) break;
      len = (uint64_t(p[2]) << 8) | p[3];
      head = 4;
    } else if (len == 127) {
      if (n - pos < 10) break;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
      head = 10;
    }
    if (len > 16 * 1024 * 1024) {
      close();
      return pos;
    }
    uint8_t mask[4] = {0, 0, 0, 0};
    if (masked) {
      if (n - pos < head + 4) break;
      memcpy(mask, data + pos + head, 4);
      head += 4;
    }
    if (n - pos - head < len) break;
    char* payload = data + pos + head;
    for (size_t i = 0; i < len; ++i) payload[i] ^= char(mask[i & 3]);
    pos += head + size_t(len);
    switch (opcode) {
      case 0x1:
      case 0x2:
        if (room) sink_->broadcast(*room, std::string_view(payload, size_t(len)));
        break;
      case 0x9: {
        std::string pong;
        pong += char(0x8A);
        pong += char(len);
        pong.append(payload, size_t(len));
        queue(pong);
        sink_->markDirty(this);
        break;
      }
      case 0x8:
        close();
        return pos;
      default:
        break;
    }
  }
  return pos;
}

void Conn::queue(const std::string& frame) {
  if (dead_) return;
  if (out_.size() - out_off_ > kMaxOut) return close();  // a slow consumer
  out_.append(frame);
}

void Conn::flush() {
  if (dead_ || waiting_write_) return;
  while (out_off_ < out_.size()) {
    ssize_t n = ::send(socket_.native_handle(), out_.data() + out_off_, out_.size() - out_off_, MSG_NOSIGNAL);
    if (n > 0) {
      out_off_ += size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      waiting_write_ = true;
      auto self = shared_from_this();
      socket_.async_wait(asio::socket_base::wait_write, [this, self](const asio::error_code& error) {
        waiting_write_ = false;
        if (dead_) return;
        if (error) return close();
        flush();
      });
      return;
    }
    return close();
  }
  out_.clear();
  out_off_ = 0;
}

void Conn::close() {
  if (dead_) return;
  dead_ = true;
  asio::error_code ignored;
  socket_.close(ignored);
  auto self = shared_from_this();  // keep alive until this call returns
  sink_->leave(this);
}

}  // namespace

int runSink(const std::string& address, uint16_t port) {
  try {
    asio::io_context io(1);
    Sink sink(io, asio::ip::tcp::endpoint(asio::ip::make_address(address), port));
    sink.accept();
    fprintf(stderr, "herald-bench sink listening on %s:%u\n", address.c_str(), port);
    io.run();
  } catch (const std::exception& e) {
    fprintf(stderr, "herald-bench sink: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace herald::bench
