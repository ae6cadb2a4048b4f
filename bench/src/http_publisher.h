// One keep-alive HTTP/1.1 connection that publishes through the server API
// (POST /api/publish with X-API-Key), one request in flight at a time so that
// publishes on one connection reach the server in order. Requests queue here
// while one is in flight; the body is made at the moment it is written, so a
// payload's send time is the time its request went to the socket.
//
// Thread-safety: none; lives on one io_context. Lifetime: kept alive until
// that io_context has stopped.
#pragma once

#include <asio.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <string>

namespace herald::bench {

class HttpPublisher {
 public:
  // Appends the JSON body of queued request `tag` to `body`.
  using BodyMaker = std::function<void(uint64_t tag, std::string* body)>;
  // The reply to request `tag`: `ok` for a 2xx whose body has no "error".
  using ReplyHandler = std::function<void(uint64_t tag, bool ok, std::string_view detail)>;
  // The connection is up (`ok`) or failed for good.
  using ConnectHandler = std::function<void(bool ok, std::string_view why)>;

  HttpPublisher(asio::io_context& io, asio::ip::tcp::endpoint remote, std::string host,
                std::string path, std::string api_key, BodyMaker make_body, ReplyHandler on_reply);

  void connect(ConnectHandler on_connect);
  void enqueue(uint64_t tag);
  size_t queued() const { return queue_.size() + (in_flight_ ? 1 : 0); }
  void close();

 private:
  void writeNext();
  void writeSome();
  void armRead();
  void onReadable();
  bool parseResponse();  // true when one complete response was consumed
  void fail(std::string_view why);

  asio::ip::tcp::socket socket_;
  const asio::ip::tcp::endpoint remote_;
  const std::string host_, path_, api_key_;
  BodyMaker make_body_;
  ReplyHandler on_reply_;
  std::deque<uint64_t> queue_;
  bool in_flight_ = false;
  uint64_t current_ = 0;
  bool dead_ = false;
  bool waiting_write_ = false;
  std::string out_;
  size_t out_off_ = 0;
  std::string in_;
  std::string body_;
};

}  // namespace herald::bench
