#include "ws_client.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <random>

#include "clock.h"

namespace herald::bench {
namespace {

constexpr size_t kReadBuffer = 256 * 1024;
constexpr size_t kConnectionBuffer = 8 * 1024;
constexpr size_t kMaxMessage = 64 * 1024 * 1024;
constexpr size_t kMaxUpgradeResponse = 16 * 1024;
constexpr char kAcceptGuid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

// The receive buffer every connection of this thread reads into.
char* threadReadBuffer() {
  thread_local std::unique_ptr<char[]> buffer(new char[kReadBuffer]);
  return buffer.get();
}

uint64_t nextRandom() {
  thread_local uint64_t state = std::random_device{}() | (uint64_t(std::random_device{}()) << 32) | 1;
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

std::string base64(const unsigned char* data, size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, int(n));
  out.resize(size_t(len));
  return out;
}

std::string acceptFor(const std::string& key) {
  std::string text = key + kAcceptGuid;
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return base64(digest, sizeof digest);
}

// Case-insensitive search for a header's value in a response head.
std::string_view headerValue(std::string_view head, std::string_view name) {
  size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    size_t start = pos + 2;
    size_t end = head.find("\r\n", start);
    if (end == std::string_view::npos) end = head.size();
    std::string_view line = head.substr(start, end - start);
    if (line.size() > name.size() && line[name.size()] == ':' &&
        strncasecmp(line.data(), name.data(), name.size()) == 0) {
      std::string_view v = line.substr(name.size() + 1);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
      return v;
    }
    pos = end;
  }
  return {};
}

void maskInPlace(char* p, size_t n, uint32_t key) {
  uint64_t key64 = uint64_t(key) | (uint64_t(key) << 32);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    memcpy(&v, p + i, 8);
    v ^= key64;
    memcpy(p + i, &v, 8);
  }
  const auto* k = reinterpret_cast<const uint8_t*>(&key);
  for (; i < n; ++i) p[i] ^= char(k[i & 3]);
}

}  // namespace

WsClient::WsClient(asio::io_context& io, Listener* listener) : socket_(io), listener_(listener) {}

void WsClient::start(const asio::ip::tcp::endpoint& remote, const asio::ip::address& source,
                     const std::string& host, const std::string& path, bool event_stream) {
  state_ = State::kConnecting;
  event_stream_ = event_stream;
  asio::error_code ec;
  socket_.open(asio::ip::tcp::v4(), ec);
  if (ec) return fail("socket: " + ec.message());
  if (!source.is_unspecified()) {
    // Let connect() pick the port, so the 4-tuple (not the source address
    // alone) must be unique: far more connections per source address.
    int one = 1;
    setsockopt(socket_.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    socket_.bind(asio::ip::tcp::endpoint(source, 0), ec);
    if (ec) return fail("bind " + source.to_string() + ": " + ec.message());
  }
  unsigned char raw_key[16];
  for (int i = 0; i < 16; i += 8) {
    uint64_t r = nextRandom();
    memcpy(raw_key + i, &r, 8);
  }
  key_ = base64(raw_key, sizeof raw_key);
  if (event_stream_) {
    out_ = "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nAccept: text/event-stream\r\n\r\n";
  } else {
    out_ = "GET " + path + " HTTP/1.1\r\nHost: " + host +
           "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key_ +
           "\r\nSec-WebSocket-Version: 13\r\n\r\n";
  }
  socket_.async_connect(remote, [this](const asio::error_code& error) {
    if (state_ != State::kConnecting) return;
    if (error) return fail("connect: " + error.message());
    asio::error_code ignored;
    socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
    socket_.non_blocking(true, ignored);
    state_ = State::kUpgrading;
    writeSome();
    if (state_ == State::kUpgrading) armRead();
  });
}

void WsClient::fail(std::string_view why) {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  asio::error_code ignored;
  socket_.close(ignored);
  // Buffers are released by onReadable(): a message being delivered may
  // still point into them.
  out_.clear();
  out_off_ = 0;
  listener_->onClosed(*this, why);
}

void WsClient::close() {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  asio::error_code ignored;
  socket_.close(ignored);
  out_.clear();
  out_off_ = 0;
}

void WsClient::releaseBuffers() {
  read_buffer_.reset();
  std::string().swap(in_);
  std::string().swap(fragments_);
  std::string().swap(out_);
}

void WsClient::armRead() {
  // async_read_some rather than async_wait: asio re-arms epoll with
  // epoll_ctl for every async_wait, but not for a read, and after a short
  // read it queues the next one without a speculative recv().
  if (!read_buffer_) read_buffer_.reset(new char[kConnectionBuffer]);
  socket_.async_read_some(asio::buffer(read_buffer_.get(), kConnectionBuffer),
                          [this](const asio::error_code& error, size_t n) {
                            if (state_ == State::kClosed) return;
                            if (error == asio::error::eof) return fail("closed by the server");
                            if (error) return fail("recv: " + error.message());
                            if (!ingest(read_buffer_.get(), n)) return;
                            // A full buffer: more may wait; read it into the thread's buffer.
                            if (n == kConnectionBuffer) return onReadable();
                            armRead();
                          });
}

bool WsClient::ingest(char* data, size_t n) {
  tl_read_ns = nowNs();
  bytes_in_ += n;
  if (in_.empty()) {
    size_t used = consume(data, n);
    if (state_ == State::kClosed) return releaseBuffers(), false;
    if (used < n) in_.assign(data + used, n - used);
  } else {
    in_.append(data, n);
    size_t used = consume(in_.data(), in_.size());
    if (state_ == State::kClosed) return releaseBuffers(), false;
    in_.erase(0, used);
  }
  return true;
}

void WsClient::onReadable() {
  char* buffer = threadReadBuffer();
  for (;;) {
    ssize_t n = ::recv(socket_.native_handle(), buffer, kReadBuffer, 0);
    if (n > 0) {
      if (!ingest(buffer, size_t(n))) return;
      // A short read drained the socket; a later arrival is a new edge that
      // the reactor reports once armRead() below has queued the read.
      if (size_t(n) < kReadBuffer) break;
      continue;
    }
    if (n == 0) return fail("closed by the server");
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    if (errno == EINTR) continue;
    return fail(std::string("recv: ") + strerror(errno));
  }
  armRead();
}

size_t WsClient::consume(char* data, size_t n) {
  size_t used = 0;
  if (state_ == State::kUpgrading) {
    used = consumeUpgrade(data, n);
    if (state_ != State::kOpen) return used;
  }
  return used + (event_stream_ ? consumeEvents(data + used, n - used) : consumeFrames(data + used, n - used));
}

size_t WsClient::consumeUpgrade(char* data, size_t n) {
  std::string_view text(data, n);
  size_t end = text.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (n > kMaxUpgradeResponse) fail("upgrade response too large");
    return 0;
  }
  std::string_view head = text.substr(0, end);
  if (event_stream_) {
    if (head.substr(0, 12) != "HTTP/1.1 200") {
      fail("stream refused: " + std::string(head.substr(0, head.find("\r\n"))));
      return 0;
    }
    state_ = State::kOpen;
    listener_->onOpen(*this);
    return end + 4;
  }
  if (head.substr(0, 12) != "HTTP/1.1 101") {
    fail("upgrade refused: " + std::string(head.substr(0, head.find("\r\n"))));
    return 0;
  }
  if (headerValue(head, "Sec-WebSocket-Accept") != acceptFor(key_)) {
    fail("upgrade: wrong Sec-WebSocket-Accept");
    return 0;
  }
  std::string().swap(key_);
  state_ = State::kOpen;
  listener_->onOpen(*this);
  return end + 4;
}

size_t WsClient::consumeFrames(char* data, size_t n) {
  size_t pos = 0;
  while (state_ == State::kOpen && n - pos >= 2) {
    const auto* p = reinterpret_cast<const uint8_t*>(data + pos);
    const bool fin = p[0] & 0x80;
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
    if (len > kMaxMessage) {
      fail("frame too large");
      return pos;
    }
    uint32_t mask = 0;
    if (masked) {
      if (n - pos < head + 4) break;
      memcpy(&mask, data + pos + head, 4);
      head += 4;
    }
    if (n - pos - head < len) break;
    char* payload = data + pos + head;
    if (masked) maskInPlace(payload, size_t(len), mask);
    pos += head + size_t(len);
    handleFrame(opcode, fin, payload, size_t(len));
  }
  return pos;
}

// Events end with a blank line; Herald writes "\n" line ends only.
size_t WsClient::consumeEvents(char* data, size_t n) {
  size_t pos = 0;
  while (state_ == State::kOpen && pos < n) {
    const char* end = static_cast<const char*>(memmem(data + pos, n - pos, "\n\n", 2));
    if (!end) {
      if (n - pos > kMaxMessage) fail("event too large");
      break;
    }
    size_t len = size_t(end - (data + pos));
    listener_->onMessage(*this, std::string_view(data + pos, len));
    pos += len + 2;
  }
  return pos;
}

void WsClient::handleFrame(uint8_t opcode, bool fin, char* payload, size_t len) {
  switch (opcode) {
    case 0x1:
    case 0x2:
      if (fin && fragments_.empty()) {
        listener_->onMessage(*this, std::string_view(payload, len));
      } else {
        fragments_.assign(payload, len);
      }
      return;
    case 0x0:
      fragments_.append(payload, len);
      if (fragments_.size() > kMaxMessage) return fail("message too large");
      if (fin) {
        std::string message;
        message.swap(fragments_);
        listener_->onMessage(*this, message);
      }
      return;
    case 0x9:  // ping: answer with the same payload
      appendFrame(0xA, std::string_view(payload, len));
      writeSome();
      return;
    case 0xA:
      return;
    case 0x8: {
      std::string why = "closed by the server";
      if (len >= 2) {
        const auto* c = reinterpret_cast<const uint8_t*>(payload);
        why += " (" + std::to_string((c[0] << 8) | c[1]);
        if (len > 2) why += " " + std::string(payload + 2, len - 2);
        why += ")";
      }
      return fail(why);
    }
    default:
      return fail("unknown opcode " + std::to_string(opcode));
  }
}

void WsClient::appendFrame(uint8_t opcode, std::string_view payload) {
  uint8_t head[14];
  size_t h = 0;
  head[h++] = uint8_t(0x80 | opcode);
  if (payload.size() < 126) {
    head[h++] = uint8_t(0x80 | payload.size());
  } else if (payload.size() < 65536) {
    head[h++] = 0x80 | 126;
    head[h++] = uint8_t(payload.size() >> 8);
    head[h++] = uint8_t(payload.size());
  } else {
    head[h++] = 0x80 | 127;
    for (int i = 7; i >= 0; --i) head[h++] = uint8_t(uint64_t(payload.size()) >> (8 * i));
  }
  const uint32_t mask = uint32_t(nextRandom());
  memcpy(head + h, &mask, 4);
  h += 4;
  out_.append(reinterpret_cast<const char*>(head), h);
  size_t at = out_.size();
  out_.append(payload.data(), payload.size());
  maskInPlace(out_.data() + at, payload.size(), mask);
}

void WsClient::sendText(std::string_view payload, bool more) {
  if (state_ != State::kOpen) return;
  appendFrame(0x1, payload);
  if (!more) writeSome();
}

void WsClient::flush() {
  if (state_ == State::kOpen) writeSome();
}

void WsClient::writeSome() {
  if (waiting_write_) return;
  while (out_off_ < out_.size()) {
    ssize_t n = ::send(socket_.native_handle(), out_.data() + out_off_, out_.size() - out_off_, MSG_NOSIGNAL);
    if (n > 0) {
      out_off_ += size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      waiting_write_ = true;
      socket_.async_wait(asio::socket_base::wait_write, [this](const asio::error_code& error) {
        waiting_write_ = false;
        if (state_ == State::kClosed) return;
        if (error) return fail("wait: " + error.message());
        writeSome();
      });
      return;
    }
    return fail(std::string("send: ") + strerror(errno));
  }
  out_.clear();
  out_off_ = 0;
}

}  // namespace herald::bench
