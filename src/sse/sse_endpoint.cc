#include "sse/sse_endpoint.h"

#include <simdjson.h>

#include <random>

#include "core/disconnect.h"
#include "core/event_json.h"
#include "core/hub.h"
#include "core/node.h"
#include "http/response.h"
#include "metrics/metrics.h"
#include "net/worker.h"
#include "protocol/json_writer.h"

namespace herald::sse {

namespace {

namespace dom = simdjson::dom;

// Request ids of the commands the endpoint sends for its client: connect is
// 1, the subscribe to request.channels[i] is kFirstSubscribeId + i.
constexpr uint64_t kConnectId = 1;
constexpr uint64_t kFirstSubscribeId = 2;

// Parses one of the session's replies (a few per connection, never per
// event): one parser per worker thread, reused.
dom::element parseReply(std::string_view json) {
  thread_local dom::parser parser;
  return parser.parse(json.data(), json.size()).value();
}

// A member of a reply the session wrote, or T{} if absent (it never is).
template <typename T>
T field(dom::object obj, std::string_view key) {
  T value{};
  if (obj[key].get(value) != simdjson::SUCCESS) return T{};
  return value;
}

// "event: <name>\n" (omitted for the default "message") + data + blank line.
void appendEvent(std::string* out, std::string_view name, std::string_view json) {
  if (!name.empty()) out->append("event: ").append(name).push_back('\n');
  appendData(out, json);
  out->push_back('\n');
}

// An error response for a stream refused before it started. EventSource
// does not retry after an HTTP error: right for a bad token; for limits and
// shutdown the page's error handler decides when to come back.
int httpStatusFor(uint16_t code) {
  switch (code) {
    case core::kDisconnectInvalidToken:
    case core::kDisconnectTokenExpired: return 401;
    case core::kDisconnectConnectionLimit:
    case core::kDisconnectTooManyRequests: return 429;
    case core::kDisconnectShutdown: return 503;
    default: return 400;
  }
}

}  // namespace

SseEndpoint::SseEndpoint(core::Hub& hub, net::Connection& conn, int64_t opened_ms,
                         const StreamOptions& options, StreamRequest request)
    : hub_(hub),
      conn_(conn),
      options_(options),
      request_(std::move(request)),
      next_heartbeat_ms_(conn.worker().nowMs() + options.heartbeat_ms),
      session_(hub, *this, opened_ms) {
  hub_.metrics().connections[static_cast<size_t>(metrics::Transport::kSse)].add(1);
  // A cursor this server did not write resumes nothing: every channel then
  // reports recovered: false, and the page reloads its state.
  if (!request_.last_event_id.empty()) {
    resuming_ = true;
    resume_from_.parse(request_.last_event_id);
    request_.last_event_id.clear();
    // Until a channel's subscribe answers, ids carry its old position: a
    // stream cut before then resumes that channel from where it was.
    for (const std::string& channel : request_.channels) {
      if (const Cursor::Entry* from = resume_from_.find(channel)) cursor_.set(channel, from->offset, from->epoch);
    }
  }
}

SseEndpoint::~SseEndpoint() {
  hub_.metrics().connections[static_cast<size_t>(metrics::Transport::kSse)].add(-1);
}

void SseEndpoint::start() {
  std::string command;
  protocol::JsonWriter w(&command);
  w.raw("{\"id\":").number(kConnectId).raw(",\"connect\":{");
  if (!request_.token.empty()) w.raw("\"token\":").string(request_.token);
  w.raw("}}");
  request_.token.clear();
  session_.onMessage(command, /*paced=*/false);
  if (!streaming_ || session_.closing()) return;

  // One line per channel; the session handles them in order.
  command.clear();
  for (size_t i = 0; i < request_.channels.size(); ++i) {
    const std::string& channel = request_.channels[i];
    if (i > 0) w.raw('\n');
    w.raw("{\"id\":").number(kFirstSubscribeId + i).raw(",\"subscribe\":{\"channel\":").string(channel);
    if (const Cursor::Entry* from = resume_from_.find(channel)) {
      w.raw(",\"since\":{\"offset\":").number(from->offset).raw(",\"epoch\":").string(from->epoch).raw('}');
    }
    w.raw("}}");
  }
  session_.onMessage(command, /*paced=*/false);
}

void SseEndpoint::onData(char*, size_t len) {
  // Nothing is expected after the request; whatever comes is counted and
  // dropped (a second request cannot be answered on a stream).
  hub_.metrics().bytes_in.inc(len);
}

void SseEndpoint::onTick(int64_t now_ms) {
  if (streaming_ && now_ms >= next_heartbeat_ms_ && !session_.closing()) {
    next_heartbeat_ms_ = now_ms + options_.heartbeat_ms;
    // A comment: browsers ignore it, proxies see traffic.
    thread_local const net::Bytes heartbeat = net::Bytes::copyOf(":\n\n");
    if (conn_.send(heartbeat) == net::SendResult::kOverflow) return session_.disconnect(core::kDisconnectSlowConsumer);
    hub_.metrics().bytes_out.inc(heartbeat.size());
  }
  session_.onTick(now_ms);
}

void SseEndpoint::onShutdown() { session_.disconnect(core::kDisconnectShutdown); }

int64_t SseEndpoint::lastInputMs() const { return conn_.worker().nowMs(); }

net::Bytes SseEndpoint::encodePush(std::string_view, const broker::Publication& pub) {
  thread_local std::string json, out;
  json.clear();
  out.clear();
  protocol::JsonWriter w(&json);
  std::string_view name;
  if (pub.kind == broker::Publication::Kind::kEvent) {
    core::writeChannelEvent(w, pub);
  } else {
    name = pub.kind == broker::Publication::Kind::kJoin ? "join" : "leave";
    w.raw("{\"channel\":").string(pub.channel).raw(",\"client\":").string(pub.publisher_client);
    w.raw(",\"user\":").string(pub.publisher_user);
    if (!pub.payload.empty()) w.raw(",\"info\":").raw(pub.payload);
    w.raw('}');
  }
  appendEvent(&out, name, json);
  return net::Bytes::copyOf(out);
}

core::SendStatus SseEndpoint::sendPrepared(const net::Bytes& frame, const broker::Publication& pub) {
  if (pub.kind != broker::Publication::Kind::kEvent) {
    core::SendStatus s = conn_.send(frame);
    if (s == net::SendResult::kOk) hub_.metrics().bytes_out.inc(frame.size());
    return s;
  }
  // The id line goes first: the browser takes an event's id only when the
  // blank line after its data arrives, so a stream cut anywhere in between
  // leaves the cursor where it was, and the event comes again on resume.
  cursor_.advance(pub.channel, pub.offset);
  std::string& id = hub_.scratch();
  appendId(&id);
  // Both or neither: a lone id line would glue onto the next event.
  if (conn_.queuedBytes() + id.size() + frame.size() > conn_.worker().limits().max_queue_bytes) {
    return net::SendResult::kOverflow;
  }
  core::SendStatus s = conn_.send(net::Bytes::copyOf(id));
  if (s == net::SendResult::kOk) s = conn_.send(frame);
  if (s == net::SendResult::kOk) hub_.metrics().bytes_out.inc(id.size() + frame.size());
  return s;
}

void SseEndpoint::appendId(std::string* out) const {
  out->append("id: ");
  cursor_.appendTo(out);
  out->push_back('\n');
}

core::SendStatus SseEndpoint::send(const std::string& text) {
  core::SendStatus s = conn_.send(text);
  if (s == net::SendResult::kOk) hub_.metrics().bytes_out.inc(text.size());
  return s;
}

core::SendStatus SseEndpoint::sendJson(std::string_view json) {
  dom::object reply;
  if (parseReply(json).get(reply) != simdjson::SUCCESS) return net::SendResult::kOk;
  uint64_t id = 0;
  if (reply["id"].get(id) == simdjson::SUCCESS) {
    dom::object error;
    if (reply["error"].get(error) == simdjson::SUCCESS) {
      auto code = field<uint64_t>(error, "code");
      if (id == kConnectId) {
        connect_error_ = static_cast<uint16_t>(code);
        connect_error_message_ = field<std::string_view>(error, "message");
        return net::SendResult::kOk;
      }
      // A channel refused (permission, limit, bad name): the others go on.
      size_t index = id - kFirstSubscribeId;
      if (index >= request_.channels.size()) return net::SendResult::kOk;
      cursor_.erase(request_.channels[index]);
      resume_from_.erase(request_.channels[index]);
      std::string body;
      protocol::JsonWriter w(&body);
      w.raw("{\"channel\":").string(request_.channels[index]).raw(",\"code\":").number(code);
      w.raw(",\"message\":").string(field<std::string_view>(error, "message")).raw('}');
      std::string out;
      appendEvent(&out, "subscribe_error", body);
      return send(out);
    }
    dom::object result;
    if (id == kConnectId && reply["connect"].get(result) == simdjson::SUCCESS) {
      onConnected(result);
    } else if (id - kFirstSubscribeId < request_.channels.size() &&
               reply["subscribe"].get(result) == simdjson::SUCCESS) {
      onSubscribed(id - kFirstSubscribeId, result);
    }
    return net::SendResult::kOk;
  }
  // Pushes of the server API: subscribe and unsubscribe.
  dom::object push;
  if (reply["push"].get(push) != simdjson::SUCCESS) return net::SendResult::kOk;
  std::string_view channel = field<std::string_view>(push, "channel");
  dom::object sub;
  std::string out;
  std::string body;
  protocol::JsonWriter w(&body);
  if (push["subscribe"].get(sub) == simdjson::SUCCESS) {
    auto offset = field<uint64_t>(sub, "offset");
    cursor_.set(channel, offset, field<std::string_view>(sub, "epoch"));
    w.raw("{\"channel\":").string(channel).raw(",\"offset\":").number(offset);
    w.raw(",\"epoch\":").string(field<std::string_view>(sub, "epoch")).raw('}');
    appendId(&out);
    appendEvent(&out, "subscribe", body);
  } else if (push["unsubscribe"].is_object()) {
    cursor_.erase(channel);
    w.raw("{\"channel\":").string(channel).raw('}');
    appendId(&out);
    appendEvent(&out, "unsubscribe", body);
  } else {
    return net::SendResult::kOk;
  }
  return send(out);
}

void SseEndpoint::onConnected(dom::object result) {
  std::string out = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
                    "Cache-Control: no-cache, no-store\r\nX-Accel-Buffering: no\r\n";
  out.append(request_.extra_headers);
  out.append("\r\n");
  request_.extra_headers.clear();
  out.append("retry: ").append(std::to_string(options_.retry_ms)).append("\n");
  appendEvent(&out, "connect", simdjson::minify(result));
  streaming_ = true;
  send(out);
}

void SseEndpoint::onSubscribed(size_t index, dom::object result) {
  const std::string& channel = request_.channels[index];
  auto offset = field<uint64_t>(result, "offset");
  std::string_view epoch = field<std::string_view>(result, "epoch");
  auto recovered = field<bool>(result, "recovered");
  dom::array events;
  bool has_events = recovered && result["events"].get(events) == simdjson::SUCCESS;
  const Cursor::Entry* from = resume_from_.find(channel);
  const size_t max_queue = conn_.worker().limits().max_queue_bytes;

  // The subscribe event says where the channel starts; recovered events
  // follow, each moving the cursor on, so a cut during recovery resumes
  // from the last event the browser took.
  std::string out;
  std::string body;
  protocol::JsonWriter w(&body);
  auto write = [&] {
    out.clear();
    body.clear();
    cursor_.set(channel, has_events && from ? from->offset : offset, epoch);
    w.raw("{\"channel\":").string(channel).raw(",\"offset\":").number(offset);
    w.raw(",\"epoch\":").string(epoch);
    if (resuming_) w.raw(",\"recovered\":").boolean(recovered);
    w.raw('}');
    appendId(&out);
    appendEvent(&out, "subscribe", body);
    if (!has_events) return;
    for (dom::element event : events) {
      uint64_t event_offset = 0;
      if (event["offset"].get(event_offset) == simdjson::SUCCESS) cursor_.advance(channel, event_offset);
      std::string minified = simdjson::minify(event);
      body.clear();
      w.raw("{\"channel\":").string(channel).raw(',').raw(std::string_view(minified).substr(1));
      appendId(&out);
      appendEvent(&out, {}, body);
    }
    cursor_.set(channel, offset, epoch);
  };
  write();
  // The session kept the recovery's JSON within half the out-queue, but
  // here every event also carries an id with the whole cursor, which with
  // many channels and small events is many times the JSON. A replay that
  // cannot go out whole would be a 3006, and the same again on every
  // resume from this cursor: say "not recovered" instead, so the page
  // reloads once and goes on from here.
  if (has_events && (out.size() > max_queue / 2 || conn_.queuedBytes() + out.size() > max_queue)) {
    recovered = false;
    has_events = false;
    write();
  }
  resume_from_.erase(channel);
  if (send(out) == net::SendResult::kOverflow) session_.disconnect(core::kDisconnectSlowConsumer);
}

void SseEndpoint::close(uint16_t code, std::string_view reason, std::string_view) {
  std::string out;
  if (!streaming_) {
    uint16_t error = connect_error_;
    std::string_view message = connect_error_message_;
    if (error == 0) {
      error = code == core::kDisconnectConnectionLimit ? core::kErrorLimitExceeded : core::kErrorBadRequest;
      message = reason;
    }
    http::appendJsonError(&out, httpStatusFor(code), error, message, true);
  } else {
    if (code == core::kDisconnectShutdown) {
      // Every browser of this node comes back at once otherwise.
      thread_local std::mt19937 rng{std::random_device{}()};
      int64_t spread = std::uniform_int_distribution<int64_t>(0, 2 * options_.retry_ms + 1000)(rng);
      out.append("retry: ").append(std::to_string(options_.retry_ms + spread)).append("\n");
    }
    std::string body;
    protocol::JsonWriter w(&body);
    w.raw("{\"code\":").number(static_cast<int64_t>(code)).raw(",\"reason\":").string(reason);
    w.raw(",\"reconnect\":").boolean(core::disconnectInfo(code).reconnect).raw('}');
    appendEvent(&out, "disconnect", body);
  }
  hub_.metrics().bytes_out.inc(out.size());
  conn_.sendFinal(net::Bytes::copyOf(out));
  conn_.closeAfterFlush();
}

}  // namespace herald::sse
