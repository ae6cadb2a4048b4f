#include "http_publisher.h"

#include <strings.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace herald::bench {

HttpPublisher::HttpPublisher(asio::io_context& io, asio::ip::tcp::endpoint remote, std::string host,
                             std::string path, std::string api_key, BodyMaker make_body,
                             ReplyHandler on_reply)
    : socket_(io),
      remote_(remote),
      host_(std::move(host)),
      path_(std::move(path)),
      api_key_(std::move(api_key)),
      make_body_(std::move(make_body)),
      on_reply_(std::move(on_reply)) {}

void HttpPublisher::connect(ConnectHandler on_connect) {
  socket_.async_connect(remote_, [this, on_connect](const asio::error_code& error) {
    if (error) {
      dead_ = true;
      return on_connect(false, error.message());
    }
    asio::error_code ignored;
    socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
    socket_.non_blocking(true, ignored);
    armRead();
    on_connect(true, "");
    writeNext();
  });
}

void HttpPublisher::close() {
  dead_ = true;
  asio::error_code ignored;
  socket_.close(ignored);
}

void HttpPublisher::fail(std::string_view why) {
  if (dead_) return;
  close();
  if (in_flight_) on_reply_(current_, false, why);
  in_flight_ = false;
  for (uint64_t tag : queue_) on_reply_(tag, false, why);
  queue_.clear();
}

void HttpPublisher::enqueue(uint64_t tag) {
  if (dead_) return on_reply_(tag, false, "publisher connection is closed");
  queue_.push_back(tag);
  if (!in_flight_ && socket_.is_open() && out_.empty()) writeNext();
}

void HttpPublisher::writeNext() {
  if (dead_ || in_flight_ || queue_.empty()) return;
  current_ = queue_.front();
  queue_.pop_front();
  in_flight_ = true;
  body_.clear();
  make_body_(current_, &body_);
  out_.clear();
  out_off_ = 0;
  out_.append("POST ").append(path_).append(" HTTP/1.1\r\nHost: ").append(host_);
  out_.append("\r\nX-API-Key: ").append(api_key_);
  out_.append("\r\nContent-Type: application/json\r\nContent-Length: ");
  out_.append(std::to_string(body_.size())).append("\r\n\r\n").append(body_);
  writeSome();
}

void HttpPublisher::writeSome() {
  if (waiting_write_ || dead_) return;
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
        if (dead_) return;
        if (error) return fail(error.message());
        writeSome();
      });
      return;
    }
    return fail(std::string("send: ") + strerror(errno));
  }
  out_.clear();
  out_off_ = 0;
}

void HttpPublisher::armRead() {
  socket_.async_wait(asio::socket_base::wait_read, [this](const asio::error_code& error) {
    if (dead_) return;
    if (error) return fail(error.message());
    onReadable();
  });
}

void HttpPublisher::onReadable() {
  char buffer[16384];
  for (;;) {
    ssize_t n = ::recv(socket_.native_handle(), buffer, sizeof buffer, 0);
    if (n > 0) {
      in_.append(buffer, size_t(n));
      if (size_t(n) < sizeof buffer) break;
      continue;
    }
    if (n == 0) return fail("API connection closed by the server");
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    if (errno == EINTR) continue;
    return fail(std::string("recv: ") + strerror(errno));
  }
  while (!dead_ && parseResponse()) {
  }
  if (!dead_) armRead();
}

bool HttpPublisher::parseResponse() {
  size_t head_end = in_.find("\r\n\r\n");
  if (head_end == std::string::npos) return false;
  std::string_view head(in_.data(), head_end);
  int status = 0;
  if (head.size() > 12 && head.substr(0, 5) == "HTTP/") status = atoi(std::string(head.substr(9, 3)).c_str());
  size_t content_length = 0;
  bool chunked = false, close_after = false;
  size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos < head.size()) {
    size_t start = pos + 2, end = head.find("\r\n", start);
    if (end == std::string_view::npos) end = head.size();
    std::string_view line = head.substr(start, end - start);
    auto starts = [&](const char* name) { return strncasecmp(line.data(), name, strlen(name)) == 0; };
    if (starts("content-length:")) content_length = size_t(atoll(std::string(line.substr(15)).c_str()));
    if (starts("transfer-encoding:") && line.find("chunked") != std::string_view::npos) chunked = true;
    if (starts("connection:") && line.find("close") != std::string_view::npos) close_after = true;
    pos = end;
  }
  size_t body_start = head_end + 4, consumed = 0;
  std::string body;
  if (chunked) {
    size_t p = body_start;
    for (;;) {
      size_t eol = in_.find("\r\n", p);
      if (eol == std::string::npos) return false;
      size_t len = strtoul(in_.c_str() + p, nullptr, 16);
      if (in_.size() < eol + 2 + len + 2) return false;
      body.append(in_, eol + 2, len);
      p = eol + 2 + len + 2;
      if (len == 0) break;
    }
    consumed = p;
  } else {
    if (in_.size() < body_start + content_length) return false;
    body.assign(in_, body_start, content_length);
    consumed = body_start + content_length;
  }
  const std::string status_line(head.substr(0, head.find("\r\n")));
  in_.erase(0, consumed);
  if (!in_flight_) {
    fail("unexpected HTTP response");
    return false;
  }
  in_flight_ = false;
  const bool ok = status >= 200 && status < 300 && body.find("\"error\"") == std::string::npos;
  on_reply_(current_, ok, ok ? std::string_view() : body.empty() ? std::string_view(status_line) : std::string_view(body));
  if (close_after) {
    fail("the server closed the API connection");
    return false;
  }
  writeNext();
  return true;
}

}  // namespace herald::bench
