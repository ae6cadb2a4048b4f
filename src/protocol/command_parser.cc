#include "protocol/command_parser.h"

#include <simdjson.h>

#include <cstring>
#include <limits>
#include <new>

namespace herald::protocol {
namespace {

namespace dom = simdjson::dom;

// Limits of the protocol itself (not configurable): they bound what a client
// can make the server store per event.
constexpr size_t kMaxEventTypeBytes = 256;
constexpr size_t kMaxIdempotencyKeyBytes = 256;

// Fields of a method object. A method reads only the fields in its mask;
// others are ignored like unknown keys, without checking their types.
enum Field : uint16_t {
  kNoField = 0,
  kToken = 1 << 0,
  kChannel = 1 << 1,
  kEventType = 1 << 2,
  kVersion = 1 << 3,
  kPayload = 1 << 4,
  kIdempotencyKey = 1 << 5,
  kSince = 1 << 6,
  kLimit = 1 << 7,
  kReverse = 1 << 8,
};

struct MethodInfo {
  std::string_view name;
  Method method;
  uint16_t fields;
  std::string_view not_object;  // error when the body is not an object
};

constexpr MethodInfo kMethods[] = {
    {"connect", Method::kConnect, kToken, "connect must be an object"},
    {"subscribe", Method::kSubscribe, kChannel | kToken | kSince,
     "subscribe must be an object"},
    {"unsubscribe", Method::kUnsubscribe, kChannel, "unsubscribe must be an object"},
    {"publish", Method::kPublish,
     kChannel | kEventType | kVersion | kPayload | kIdempotencyKey,
     "publish must be an object"},
    {"presence", Method::kPresence, kChannel, "presence must be an object"},
    {"presenceStats", Method::kPresenceStats, kChannel,
     "presenceStats must be an object"},
    {"history", Method::kHistory, kChannel | kSince | kLimit | kReverse,
     "history must be an object"},
    {"refresh", Method::kRefresh, kToken, "refresh must be an object"},
};

const MethodInfo* findMethod(std::string_view key) {
  for (const MethodInfo& m : kMethods) {
    if (m.name == key) return &m;
  }
  return nullptr;
}

Field findField(std::string_view key) {
  struct Entry {
    std::string_view name;
    Field field;
  };
  static constexpr Entry kFields[] = {
      {"channel", kChannel}, {"token", kToken},
      {"eventType", kEventType}, {"version", kVersion},
      {"payload", kPayload}, {"idempotencyKey", kIdempotencyKey},
      {"since", kSince}, {"limit", kLimit},
      {"reverse", kReverse},
  };
  for (const Entry& e : kFields) {
    if (e.name == key) return e.field;
  }
  return kNoField;
}

// Back to a default Command, keeping the strings' capacity.
void resetCommand(Command* c) {
  c->id = 0;
  c->method = Method::kConnect;
  c->token.clear();
  c->channel.clear();
  c->event_type.clear();
  c->version = 1;
  c->payload.clear();
  c->has_payload = false;
  c->idempotency_key.clear();
  c->since.present = false;
  c->since.offset = 0;
  c->since.epoch.clear();
  c->limit = -1;
  c->reverse = false;
}

// The status of one step; `what` is a static message.
struct Status {
  CommandError error = CommandError::kNone;
  std::string_view what;

  bool ok() const { return error == CommandError::kNone; }
};

Status badField(std::string_view what) { return {CommandError::kBadField, what}; }

bool readString(dom::element value, std::string* out) {
  std::string_view s;
  if (value.get_string().get(s) != simdjson::SUCCESS) return false;
  out->assign(s.data(), s.size());
  return true;
}

Status readSince(dom::element value, StreamPosition* since) {
  dom::object obj;
  if (value.get_object().get(obj) != simdjson::SUCCESS) {
    return badField("since must be an object");
  }
  bool have_offset = false;
  for (dom::key_value_pair kv : obj) {
    if (kv.key == "offset") {
      if (kv.value.get_uint64().get(since->offset) != simdjson::SUCCESS) {
        return badField("since.offset must be a non-negative integer");
      }
      have_offset = true;
    } else if (kv.key == "epoch") {
      if (!readString(kv.value, &since->epoch)) {
        return badField("since.epoch must be a string");
      }
    }
  }
  if (!have_offset) return badField("since.offset required");
  since->present = true;
  return {};
}

Status readField(Field field, dom::element value, Command* out) {
  switch (field) {
    case kToken:
      if (!readString(value, &out->token)) return badField("token must be a string");
      return {};
    case kChannel:
      if (!readString(value, &out->channel)) return badField("channel must be a string");
      return {};
    case kEventType:
      if (!readString(value, &out->event_type)) {
        return badField("eventType must be a string");
      }
      if (out->event_type.size() > kMaxEventTypeBytes) {
        return badField("eventType longer than 256 bytes");
      }
      return {};
    case kVersion:
      if (value.get_int64().get(out->version) != simdjson::SUCCESS) {
        return badField("version must be an integer");
      }
      if (out->version < 1) return badField("version must be >= 1");
      return {};
    case kPayload:
      // The serializer walks the tape iteratively (it recurses once per 16
      // levels), so nesting is bounded by max_depth here as well.
      out->payload = simdjson::minify(value);
      out->has_payload = true;
      return {};
    case kIdempotencyKey:
      if (!readString(value, &out->idempotency_key)) {
        return badField("idempotencyKey must be a string");
      }
      if (out->idempotency_key.size() > kMaxIdempotencyKeyBytes) {
        return badField("idempotencyKey longer than 256 bytes");
      }
      return {};
    case kSince:
      return readSince(value, &out->since);
    case kLimit:
      if (value.get_int64().get(out->limit) != simdjson::SUCCESS) {
        return badField("limit must be an integer");
      }
      if (out->limit < 0) return badField("limit must be >= 0");
      return {};
    case kReverse:
      if (value.get_bool().get(out->reverse) != simdjson::SUCCESS) {
        return badField("reverse must be a boolean");
      }
      return {};
    case kNoField:
      break;
  }
  return {};
}

Status readBody(const MethodInfo& method, dom::object body, Command* out) {
  for (dom::key_value_pair kv : body) {
    const Field field = findField(kv.key);
    if ((field & method.fields) == 0) continue;
    Status st = readField(field, kv.value, out);
    if (!st.ok()) return st;
  }
  if ((method.fields & kChannel) && out->channel.empty()) {
    return badField("channel required");
  }
  if (method.method == Method::kPublish) {
    if (out->event_type.empty()) return badField("eventType required");
    if (!out->has_payload) return badField("payload required");
  }
  return {};
}

// True if brackets outside strings nest deeper than max_depth. Used only on
// the error path, so that a deep but unterminated text ("[[[[...") is reported
// as too deep rather than as invalid JSON. Iterative; linear in the text.
bool nestsDeeperThan(std::string_view text, size_t max_depth) {
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

}  // namespace

struct CommandParser::Impl {
  // simdjson counts the document itself as a level, so a limit of N there
  // admits N - 1 levels of non-empty arrays and objects. Herald's max_depth
  // counts the command object as level 1. (simdjson does not count an empty
  // [] or {} as a level: one may sit just past the limit, and costs nothing.)
  Impl(size_t max_bytes, size_t max_depth) : parser_(max_bytes), max_depth_(max_depth) {
    const size_t levels =
        max_depth < std::numeric_limits<size_t>::max() ? max_depth + 1 : max_depth;
    alloc_error_ = parser_.allocate(max_bytes, levels);
    if (alloc_error_ == simdjson::SUCCESS) {
      padded_.reset(new (std::nothrow) char[max_bytes + simdjson::SIMDJSON_PADDING]);
      if (!padded_) alloc_error_ = simdjson::MEMALLOC;
    }
  }

  dom::parser parser_;
  // The input is copied here, followed by the zeroed padding simdjson may
  // read past the end. Sized once, for the largest input allowed.
  std::unique_ptr<char[]> padded_;
  const size_t max_depth_;
  simdjson::error_code alloc_error_;
};

CommandParser::CommandParser(size_t max_bytes, size_t max_depth)
    : impl_(std::make_unique<Impl>(max_bytes, max_depth)), max_bytes_(max_bytes) {}

CommandParser::~CommandParser() = default;

ParsedCommand CommandParser::parse(std::string_view json, Command* out) {
  resetCommand(out);
  ParsedCommand result;
  auto fail = [&result](CommandError error, std::string_view what) {
    result.error = error;
    result.what = what;
    return result;
  };

  if (json.size() > max_bytes_) return fail(CommandError::kTooLarge, "command too large");
  if (impl_->alloc_error_ != simdjson::SUCCESS) {
    // Only if the parser could not get its buffers at construction.
    return fail(CommandError::kTooLarge, "command parser out of memory");
  }

  char* buf = impl_->padded_.get();
  if (!json.empty()) std::memcpy(buf, json.data(), json.size());
  std::memset(buf + json.size(), 0, simdjson::SIMDJSON_PADDING);

  dom::element root;
  const simdjson::error_code err =
      impl_->parser_.parse(buf, json.size(), /*realloc_if_needed=*/false).get(root);
  if (err == simdjson::DEPTH_ERROR) return fail(CommandError::kTooDeep, "nesting too deep");
  if (err != simdjson::SUCCESS) {
    if (nestsDeeperThan(json, impl_->max_depth_)) {
      return fail(CommandError::kTooDeep, "nesting too deep");
    }
    return fail(CommandError::kInvalidJson, "invalid JSON");
  }

  dom::object top;
  if (root.get_object().get(top) != simdjson::SUCCESS) {
    return fail(CommandError::kNotObject, "command must be a JSON object");
  }

  // One pass over the top level. Errors are ranked after it so that the
  // result does not depend on key order, and the id is known for the reply.
  bool id_seen = false;
  std::string_view id_error;
  const MethodInfo* method = nullptr;
  dom::element body;
  int known_methods = 0;
  int unknown_methods = 0;
  for (dom::key_value_pair kv : top) {
    if (kv.key == "id") {
      if (id_seen) {
        id_error = "duplicate id";
        continue;
      }
      id_seen = true;
      uint64_t id;
      if (kv.value.get_uint64().get(id) == simdjson::SUCCESS) {
        result.id = id;
      } else {
        id_error = "id must be a non-negative integer";
      }
    } else if (const MethodInfo* m = findMethod(kv.key)) {
      if (known_methods++ == 0) {
        method = m;
        body = kv.value;
      }
    } else if (kv.value.is_object()) {
      ++unknown_methods;
    }
    // Other keys with scalar or array values are ignored.
  }
  out->id = result.id;

  if (!id_seen) return fail(CommandError::kMissingId, "id required");
  if (!id_error.empty()) return fail(CommandError::kMissingId, id_error);
  if (known_methods + unknown_methods > 1) {
    return fail(CommandError::kUnknownMethod, "more than one method");
  }
  if (unknown_methods > 0) return fail(CommandError::kUnknownMethod, "unknown method");
  if (method == nullptr) return fail(CommandError::kUnknownMethod, "method required");

  dom::object body_obj;
  if (body.get_object().get(body_obj) != simdjson::SUCCESS) {
    return fail(CommandError::kBadField, method->not_object);
  }
  out->method = method->method;
  const Status st = readBody(*method, body_obj, out);
  if (!st.ok()) return fail(st.error, st.what);
  return result;
}

}  // namespace herald::protocol
