// libFuzzer target for CommandParser and JsonWriter.
//
// The input is a frame: it is split into lines like a WebSocket text message
// and each line is parsed twice, with the default limits and with tiny ones
// (so kTooLarge and kTooDeep are reached). A command that parses is written
// back with JsonWriter and must parse again to the same Command; this checks
// the writer's escaping and that minified payloads are valid JSON that minify
// to themselves. The raw frame is also escaped into a string and must come
// back unchanged when it is valid UTF-8.
#include <simdjson.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "protocol/command_parser.h"
#include "protocol/json_writer.h"

namespace {

using herald::protocol::Command;
using herald::protocol::CommandError;
using herald::protocol::CommandParser;
using herald::protocol::JsonWriter;
using herald::protocol::Method;
using herald::protocol::ParsedCommand;

constexpr size_t kDepth = 64;
constexpr size_t kSmallBytes = 96;
constexpr size_t kSmallDepth = 4;
// Written-back commands can be longer than the input (1e5 -> 100000.0,
// escapes), so they are re-parsed with a generous size limit.
constexpr size_t kReparseBytes = 1 << 20;

[[noreturn]] void fail(const char* what, std::string_view detail) {
  std::fprintf(stderr, "command_parser_fuzz: %s: %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

void check(bool ok, const char* what, std::string_view detail) {
  if (!ok) fail(what, detail);
}

std::string_view methodName(Method m) {
  switch (m) {
    case Method::kConnect: return "connect";
    case Method::kSubscribe: return "subscribe";
    case Method::kUnsubscribe: return "unsubscribe";
    case Method::kPublish: return "publish";
    case Method::kPresence: return "presence";
    case Method::kPresenceStats: return "presenceStats";
    case Method::kHistory: return "history";
    case Method::kRefresh: return "refresh";
  }
  std::abort();
}

// Writes the fields the method uses, the way a client would.
void writeCommand(const Command& c, std::string* out) {
  out->clear();
  JsonWriter w(out);
  w.raw('{').key("id", true).number(c.id).key(methodName(c.method)).raw('{');
  bool first = true;
  auto key = [&](std::string_view k) -> JsonWriter& {
    w.key(k, first);
    first = false;
    return w;
  };
  auto since = [&] {
    if (!c.since.present) return;
    key("since").raw('{').key("offset", true).number(c.since.offset);
    w.key("epoch").string(c.since.epoch).raw('}');
  };
  switch (c.method) {
    case Method::kConnect:
    case Method::kRefresh:
      key("token").string(c.token);
      break;
    case Method::kSubscribe:
      key("channel").string(c.channel);
      key("token").string(c.token);
      since();
      break;
    case Method::kUnsubscribe:
    case Method::kPresence:
    case Method::kPresenceStats:
      key("channel").string(c.channel);
      break;
    case Method::kPublish:
      key("channel").string(c.channel);
      key("eventType").string(c.event_type);
      key("version").number(c.version);
      key("payload").raw(c.payload);
      key("idempotencyKey").string(c.idempotency_key);
      break;
    case Method::kHistory:
      key("channel").string(c.channel);
      since();
      if (c.limit >= 0) key("limit").number(c.limit);
      key("reverse").boolean(c.reverse);
      break;
  }
  w.raw("}}");
}

bool sameCommand(const Command& a, const Command& b) {
  return a.id == b.id && a.method == b.method && a.token == b.token && a.channel == b.channel &&
         a.event_type == b.event_type && a.version == b.version && a.payload == b.payload &&
         a.has_payload == b.has_payload && a.idempotency_key == b.idempotency_key &&
         a.since.present == b.since.present && a.since.offset == b.since.offset &&
         a.since.epoch == b.since.epoch && a.limit == b.limit && a.reverse == b.reverse;
}

void checkResult(const ParsedCommand& r, const Command& c, std::string_view line) {
  check(r.error <= CommandError::kTooLarge, "error out of range", line);
  check((r.error == CommandError::kNone) == r.what.empty(), "what set iff error", line);
  if (r.error != CommandError::kNone) return;
  check(r.id == c.id, "result id differs from command id", line);
  switch (c.method) {
    case Method::kPublish:
      check(c.has_payload && !c.payload.empty(), "publish without payload", line);
      check(!c.event_type.empty() && c.event_type.size() <= 256, "eventType length", line);
      check(c.version >= 1, "version < 1", line);
      check(c.idempotency_key.size() <= 256, "idempotencyKey length", line);
      [[fallthrough]];
    case Method::kSubscribe:
    case Method::kUnsubscribe:
    case Method::kPresence:
    case Method::kPresenceStats:
    case Method::kHistory:
      check(!c.channel.empty(), "channel empty", line);
      break;
    case Method::kConnect:
    case Method::kRefresh:
      check(c.channel.empty(), "connect/refresh with channel", line);
      break;
  }
  if (c.method != Method::kPublish) check(!c.has_payload, "payload outside publish", line);
  check(c.limit >= -1, "limit < -1", line);
}

void parseLine(std::string_view line) {
  static CommandParser parser(64 * 1024, kDepth);
  static CommandParser small(kSmallBytes, kSmallDepth);
  static CommandParser reparser(kReparseBytes, kDepth);
  static Command cmd;
  static Command again;
  static std::string written;

  ParsedCommand r = small.parse(line, &cmd);
  checkResult(r, cmd, line);
  if (line.size() > kSmallBytes) check(r.error == CommandError::kTooLarge, "small: size", line);

  r = parser.parse(line, &cmd);
  checkResult(r, cmd, line);
  if (r.error != CommandError::kNone) return;

  writeCommand(cmd, &written);
  const ParsedCommand r2 = reparser.parse(written, &again);
  if (r2.error != CommandError::kNone) fail("written command does not parse", written);
  if (!sameCommand(cmd, again)) fail("written command parses differently", written);
}

// Escaping arbitrary bytes: valid UTF-8 must come back unchanged in a string.
void checkEscaping(std::string_view frame) {
  if (frame.size() > kReparseBytes / 8) return;  // 6x for \u00XX, and room
  static CommandParser parser(kReparseBytes, kDepth);
  static Command cmd;
  static std::string json;
  json.clear();
  JsonWriter w(&json);
  w.raw('{').key("id", true).number(uint64_t{1}).key("connect").raw('{');
  w.key("token", true).string(frame).raw("}}");
  const ParsedCommand r = parser.parse(json, &cmd);
  if (simdjson::validate_utf8(frame.data(), frame.size())) {
    if (r.error != CommandError::kNone) fail("escaped string does not parse", json);
    if (cmd.token != frame) fail("escaped string changed", json);
  } else {
    check(r.error == CommandError::kInvalidJson, "invalid UTF-8 accepted", json);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view frame(reinterpret_cast<const char*>(data), size);
  CommandParser::split(frame, parseLine);
  // Also the whole frame as one command, newlines and all.
  parseLine(frame);
  checkEscaping(frame);
  return 0;
}
