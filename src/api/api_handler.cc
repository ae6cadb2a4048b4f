#include "api/api_handler.h"

#include <simdjson.h>

#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/clock.h"
#include "broker/broker.h"
#include "config/config.h"
#include "core/channel.h"
#include "core/disconnect.h"
#include "core/event_json.h"
#include "core/hub.h"
#include "core/node.h"
#include "core/session.h"
#include "protocol/json_writer.h"

namespace herald::api {

namespace {

using simdjson::dom::element;
using protocol::JsonWriter;

// A method's answer: code 0 and the result object's JSON, or an error code
// and its message.
using Reply = std::function<void(int code, std::string json)>;

void fail(const Reply& reply, int code, std::string_view message) {
  reply(code, std::string(message));
}

// Reads an optional string field; false if present with another type.
// An absent or null key leaves *out empty.
bool optString(element obj, const char* key, std::string_view* out) {
  *out = {};
  element v;
  if (obj[key].get(v) != simdjson::SUCCESS || v.is_null()) return true;
  return v.get_string().get(*out) == simdjson::SUCCESS;
}

struct PublishFields {
  std::string channel;
  std::string event_type;
  int64_t version = 1;
  std::string payload;
  std::string idempotency_key;
};

// Validates the fields shared by publish and broadcast; returns an error
// message, or empty when fine.
std::string_view readEventFields(element body, PublishFields* f) {
  std::string_view s;
  if (!optString(body, "eventType", &s)) return "eventType must be a string";
  if (s.empty() || s.size() > 256) return "eventType required (1..256 characters)";
  f->event_type.assign(s);
  element v;
  if (body["version"].get(v) == simdjson::SUCCESS && !v.is_null()) {
    int64_t version;
    if (v.get_int64().get(version) != simdjson::SUCCESS || version < 1) {
      return "version must be a positive integer";
    }
    f->version = version;
  }
  if (body["payload"].get(v) != simdjson::SUCCESS) return "payload required";
  f->payload = simdjson::minify(v);
  if (!optString(body, "idempotencyKey", &s) || s.size() > 256) {
    return "idempotencyKey must be a string of at most 256 characters";
  }
  f->idempotency_key.assign(s);
  return {};
}

void publishOne(core::Hub& hub, const PublishFields& f, const Reply& reply) {
  if (!core::validChannelName(f.channel)) return fail(reply, core::kErrorUnknownChannel, "invalid channel name");
  const config::Config& cfg = hub.node().config();
  const config::Namespace* ns = cfg.namespaceFor(f.channel);
  if (!ns) return fail(reply, core::kErrorUnknownChannel, "unknown channel");
  uint32_t max_bytes = ns->max_message_bytes ? ns->max_message_bytes : cfg.limits.max_message_bytes;
  if (f.payload.size() > max_bytes) return fail(reply, core::kErrorMessageTooLarge, "message too large");
  broker::PublishRequest req;
  req.channel = f.channel;
  req.event_type = f.event_type;
  req.version = f.version;
  req.payload = f.payload;
  req.idempotency_key = f.idempotency_key;
  req.history_size = ns->history_size;
  req.history_ttl_s = ns->history_ttl;
  core::Hub* h = &hub;
  hub.node().broker().publish(req, [h, reply](const broker::PublishResult& r) {
    if (r.status != broker::Status::kOk) return fail(reply, core::kErrorInternal, "engine unavailable");
    h->metrics().published.inc();
    std::string out;
    JsonWriter(&out).raw("{\"offset\":").number(r.offset).raw(",\"epoch\":").string(r.epoch).raw('}');
    reply(0, std::move(out));
  });
}

void methodPublish(core::Hub& hub, element body, const Reply& reply) {
  PublishFields f;
  std::string_view channel;
  if (!optString(body, "channel", &channel)) return fail(reply, core::kErrorBadRequest, "channel must be a string");
  f.channel.assign(channel);
  if (auto err = readEventFields(body, &f); !err.empty()) return fail(reply, core::kErrorBadRequest, err);
  publishOne(hub, f, reply);
}

// Publishes to each channel in order; each gets its own result or error.
void methodBroadcast(core::Hub& hub, element body, const Reply& reply) {
  simdjson::dom::array channels;
  if (body["channels"].get_array().get(channels) != simdjson::SUCCESS) {
    return fail(reply, core::kErrorBadRequest, "channels must be an array of strings");
  }
  PublishFields f;
  if (auto err = readEventFields(body, &f); !err.empty()) return fail(reply, core::kErrorBadRequest, err);
  std::vector<std::string> names;
  for (element c : channels) {
    std::string_view s;
    if (c.get_string().get(s) != simdjson::SUCCESS) {
      return fail(reply, core::kErrorBadRequest, "channels must be an array of strings");
    }
    names.emplace_back(s);
  }
  std::string out = "{\"responses\":[";
  bool first = true;
  for (const std::string& name : names) {
    f.channel = name;
    // The memory broker answers synchronously; the order of the array
    // matches `channels` either way because each entry is written in turn.
    publishOne(hub, f, [&](int code, std::string json) {
      if (!first) out.push_back(',');
      first = false;
      JsonWriter w(&out);
      if (code == 0) {
        w.raw("{\"result\":").raw(json).raw('}');
      } else {
        w.raw("{\"error\":{\"code\":").number(code).raw(",\"message\":").string(json).raw("}}");
      }
    });
  }
  out += "]}";
  reply(0, std::move(out));
}

void methodChannels(core::Hub& hub, element body, const Reply& reply) {
  std::string_view pattern;
  if (!optString(body, "pattern", &pattern)) return fail(reply, core::kErrorBadRequest, "pattern must be a string");
  using Counts = std::unordered_map<std::string, uint32_t>;
  hub.node().gather<Counts>(
      hub.index(), [pattern = std::string(pattern)](core::Hub& h) { return h.channelCounts(pattern); },
      [reply](std::vector<Counts> parts) {
        Counts total;
        for (auto& part : parts) {
          for (auto& [name, n] : part) total[name] += n;
        }
        std::string out;
        JsonWriter w(&out);
        w.raw("{\"channels\":{");
        bool first = true;
        for (auto& [name, n] : total) {
          if (!first) w.raw(',');
          first = false;
          w.string(name).raw(":{\"numClients\":").number(static_cast<uint64_t>(n)).raw('}');
        }
        w.raw("}}");
        reply(0, std::move(out));
      });
}

void methodInfo(core::Hub& hub, element, const Reply& reply) {
  struct Part {
    size_t clients = 0;
    std::vector<std::string> users;
  };
  core::Node* node = &hub.node();
  node->gather<Part>(
      hub.index(), [](core::Hub& h) { return Part{h.numSessions(), h.users()}; },
      [node, reply](std::vector<Part> parts) {
        size_t clients = 0;
        std::unordered_set<std::string> users;
        for (auto& p : parts) {
          clients += p.clients;
          users.insert(p.users.begin(), p.users.end());
        }
        int64_t now_ms = base::wallNowMs();
        std::string out;
        JsonWriter w(&out);
        w.raw("{\"nodes\":[{\"name\":").string(node->name());
        w.raw(",\"version\":").string(HERALD_VERSION);
        w.raw(",\"uptime\":").number((now_ms - node->startedMs()) / 1000);
        w.raw(",\"numClients\":").number(static_cast<uint64_t>(clients));
        w.raw(",\"numUsers\":").number(static_cast<uint64_t>(users.size()));
        w.raw(",\"numChannels\":").number(static_cast<uint64_t>(node->broker().numChannels()));
        w.raw("}]}");
        reply(0, std::move(out));
      });
}

void methodDisconnect(core::Hub& hub, element body, const Reply& reply) {
  std::string_view user, client, reason;
  if (!optString(body, "user", &user) || !optString(body, "client", &client) ||
      !optString(body, "reason", &reason)) {
    return fail(reply, core::kErrorBadRequest, "user, client and reason must be strings");
  }
  element v;
  if (body["user"].get(v) != simdjson::SUCCESS) return fail(reply, core::kErrorBadRequest, "user required");
  int64_t code = core::kDisconnectByApi;
  if (body["code"].get(v) == simdjson::SUCCESS &&
      (v.get_int64().get(code) != simdjson::SUCCESS || code < 3000 || code > 4999)) {
    return fail(reply, core::kErrorBadRequest, "code must be an integer in 3000..4999");
  }
  hub.node().gather<size_t>(
      hub.index(),
      [user = std::string(user), client = std::string(client), reason = std::string(reason),
       code](core::Hub& h) {
        return h.forUser(user, client, [&](core::Session& s) { s.disconnect(static_cast<uint16_t>(code), reason); });
      },
      [reply](std::vector<size_t>) { reply(0, "{}"); });
}

// Reads "channel" and finds its namespace; fails the reply (and returns
// null) when the channel is missing or invalid, or `enabled(ns)` is false.
const config::Namespace* channelFor(core::Hub& hub, element body, const Reply& reply,
                                    bool (*enabled)(const config::Namespace&), std::string* channel) {
  std::string_view name;
  if (!optString(body, "channel", &name)) {
    fail(reply, core::kErrorBadRequest, "channel must be a string");
    return nullptr;
  }
  if (name.empty()) {
    fail(reply, core::kErrorBadRequest, "channel required");
    return nullptr;
  }
  if (!core::validChannelName(name)) {
    fail(reply, core::kErrorUnknownChannel, "invalid channel name");
    return nullptr;
  }
  const config::Namespace* ns = hub.node().config().namespaceFor(name);
  if (!ns) {
    fail(reply, core::kErrorUnknownChannel, "unknown channel");
    return nullptr;
  }
  if (!enabled(*ns)) {
    fail(reply, core::kErrorNotAvailable, "not available");
    return nullptr;
  }
  channel->assign(name);
  return ns;
}

bool historyEnabled(const config::Namespace& ns) { return ns.history_size > 0; }
bool presenceEnabled(const config::Namespace& ns) { return ns.presence; }

// {"events":[...],"offset":X,"epoch":E}
std::string historyJson(const broker::HistoryResult& r) {
  std::string out;
  JsonWriter w(&out);
  w.raw("{\"events\":");
  core::writeEvents(w, r.publications);
  w.raw(",\"offset\":").number(r.position.offset).raw(",\"epoch\":").string(r.position.epoch).raw('}');
  return out;
}

void methodHistory(core::Hub& hub, element body, const Reply& reply) {
  std::string channel;
  if (!channelFor(hub, body, reply, historyEnabled, &channel)) return;
  broker::HistoryRequest req;
  req.channel = channel;
  broker::Position since;
  element v;
  if (body["since"].get(v) == simdjson::SUCCESS && !v.is_null()) {
    std::string_view epoch;
    element offset;
    if (!v.is_object() || v["offset"].get(offset) != simdjson::SUCCESS ||
        offset.get_uint64().get(since.offset) != simdjson::SUCCESS || !optString(v, "epoch", &epoch)) {
      return fail(reply, core::kErrorBadRequest, "since must be {\"offset\": integer >= 0, \"epoch\": string}");
    }
    since.epoch.assign(epoch);
    req.since = &since;
  }
  if (body["limit"].get(v) == simdjson::SUCCESS && !v.is_null() &&
      (v.get_int64().get(req.limit) != simdjson::SUCCESS || req.limit < 0)) {
    return fail(reply, core::kErrorBadRequest, "limit must be an integer >= 0");
  }
  if (body["reverse"].get(v) == simdjson::SUCCESS && !v.is_null() &&
      v.get_bool().get(req.reverse) != simdjson::SUCCESS) {
    return fail(reply, core::kErrorBadRequest, "reverse must be a boolean");
  }
  hub.node().broker().history(req, [reply](const broker::HistoryResult& r) {
    if (r.status == broker::Status::kUnrecoverablePosition) {
      return fail(reply, core::kErrorUnrecoverablePosition, "unrecoverable position");
    }
    if (r.status != broker::Status::kOk) return fail(reply, core::kErrorInternal, "engine unavailable");
    reply(0, historyJson(r));
  });
}

void methodHistoryRemove(core::Hub& hub, element body, const Reply& reply) {
  std::string channel;
  if (!channelFor(hub, body, reply, historyEnabled, &channel)) return;
  hub.node().broker().removeHistory(channel, [reply](const broker::HistoryResult& r) {
    if (r.status != broker::Status::kOk) return fail(reply, core::kErrorInternal, "engine unavailable");
    reply(0, historyJson(r));
  });
}

bool always(const config::Namespace&) { return true; }

// subscribe / unsubscribe: every connection of `user` (or just `client`),
// on every worker; each is told with a push.
void subscribeUser(core::Hub& hub, element body, const Reply& reply, bool subscribe) {
  std::string channel;
  if (!channelFor(hub, body, reply, always, &channel)) return;
  std::string_view user, client;
  element v;
  if (!optString(body, "user", &user) || !optString(body, "client", &client)) {
    return fail(reply, core::kErrorBadRequest, "user and client must be strings");
  }
  if (body["user"].get(v) != simdjson::SUCCESS) return fail(reply, core::kErrorBadRequest, "user required");
  hub.node().gather<size_t>(
      hub.index(),
      [user = std::string(user), client = std::string(client), channel, subscribe](core::Hub& h) {
        return h.forUser(user, client, [&](core::Session& s) {
          subscribe ? s.serverSubscribe(channel) : s.serverUnsubscribe(channel);
        });
      },
      [reply](std::vector<size_t>) { reply(0, "{}"); });
}

void methodSubscribe(core::Hub& hub, element body, const Reply& reply) { subscribeUser(hub, body, reply, true); }
void methodUnsubscribe(core::Hub& hub, element body, const Reply& reply) { subscribeUser(hub, body, reply, false); }

void methodPresence(core::Hub& hub, element body, const Reply& reply) {
  std::string channel;
  if (!channelFor(hub, body, reply, presenceEnabled, &channel)) return;
  hub.node().broker().presence(channel, [reply](const broker::PresenceResult& r) {
    if (r.status != broker::Status::kOk) return fail(reply, core::kErrorInternal, "engine unavailable");
    std::string out;
    JsonWriter w(&out);
    core::writePresence(w, r.clients);
    reply(0, std::move(out));
  });
}

void methodPresenceStats(core::Hub& hub, element body, const Reply& reply) {
  std::string channel;
  if (!channelFor(hub, body, reply, presenceEnabled, &channel)) return;
  hub.node().broker().presenceStats(channel, [reply](const broker::PresenceStats& r) {
    if (r.status != broker::Status::kOk) return fail(reply, core::kErrorInternal, "engine unavailable");
    std::string out;
    JsonWriter w(&out);
    core::writePresenceStats(w, r);
    reply(0, std::move(out));
  });
}

using Method = void (*)(core::Hub&, element, const Reply&);

Method findMethod(std::string_view name) {
  static const std::unordered_map<std::string_view, Method> methods = {
      {"publish", methodPublish},
      {"broadcast", methodBroadcast},
      {"channels", methodChannels},
      {"info", methodInfo},
      {"disconnect", methodDisconnect},
      {"subscribe", methodSubscribe},
      {"unsubscribe", methodUnsubscribe},
      {"presence", methodPresence},
      {"presenceStats", methodPresenceStats},
      {"history", methodHistory},
      {"historyRemove", methodHistoryRemove},
  };
  auto it = methods.find(name);
  return it == methods.end() ? nullptr : it->second;
}

simdjson::dom::parser& parser() {
  thread_local simdjson::dom::parser p;
  return p;
}

void writeError(std::string* out, int code, std::string_view message) {
  JsonWriter(out).raw("{\"error\":{\"code\":").number(code).raw(",\"message\":").string(message).raw("}}");
}

// Runs the commands of a batch one after another (each may answer later),
// then replies with every answer in order.
struct Batch : std::enable_shared_from_this<Batch> {
  core::Hub* hub;
  std::vector<std::pair<std::string, std::string>> commands;  // method, body JSON
  std::string out = "{\"replies\":[";
  size_t next = 0;
  Reply done;

  void run() {
    if (next == commands.size()) {
      out += "]}";
      return done(0, std::move(out));
    }
    auto& [name, json] = commands[next];
    if (next > 0) out.push_back(',');
    ++next;
    Method m = findMethod(name);
    element body;
    if (!m || name == "batch") {
      writeError(&out, core::kErrorUnknownMethod, "unknown method");
      return run();
    }
    if (parser().parse(json).get(body) != simdjson::SUCCESS) {
      writeError(&out, core::kErrorBadRequest, "invalid JSON");
      return run();
    }
    auto self = shared_from_this();
    m(*hub, body, [self, name = name](int code, std::string json) {
      if (code == 0) {
        JsonWriter(&self->out).raw("{\"").raw(name).raw("\":").raw(json).raw('}');
      } else {
        writeError(&self->out, code, json);
      }
      self->run();
    });
  }
};

void methodBatch(core::Hub& hub, element body, const Reply& reply) {
  simdjson::dom::array commands;
  if (body["commands"].get_array().get(commands) != simdjson::SUCCESS) {
    return fail(reply, core::kErrorBadRequest, "commands must be an array");
  }
  auto batch = std::make_shared<Batch>();
  batch->hub = &hub;
  batch->done = reply;
  for (element c : commands) {
    simdjson::dom::object obj;
    if (c.get_object().get(obj) != simdjson::SUCCESS || obj.size() != 1) {
      return fail(reply, core::kErrorBadRequest, "each command is an object with one method key");
    }
    for (auto field : obj) {
      batch->commands.emplace_back(std::string(field.key), simdjson::minify(field.value));
    }
  }
  batch->run();
}

}  // namespace

int httpStatusFor(int code) {
  switch (code) {
    case core::kErrorUnauthorized:
    case core::kErrorTokenExpired: return 401;
    case core::kErrorUnknownChannel:
    case core::kErrorBadRequest: return 400;
    case core::kErrorPermissionDenied: return 403;
    case core::kErrorUnknownMethod: return 404;
    case core::kErrorAlreadySubscribed:
    case core::kErrorUnrecoverablePosition: return 409;
    case core::kErrorMessageTooLarge: return 413;
    case core::kErrorLimitExceeded:
    case core::kErrorTooManyRequests: return 429;
    case core::kErrorNotAvailable: return 501;
    default: return 500;
  }
}

void handle(core::Hub& hub, std::string_view method_name, std::string_view body_text, ApiDone done) {
  auto reply = [done = std::move(done)](int code, std::string json) {
    if (code == 0) {
      done(200, "{\"result\":" + json + "}");
    } else {
      std::string out;
      writeError(&out, code, json);
      done(httpStatusFor(code), std::move(out));
    }
  };
  Method m = method_name == "batch" ? methodBatch : findMethod(method_name);
  if (!m) return reply(core::kErrorUnknownMethod, "unknown method");
  element body;
  if (body_text.find_first_not_of(" \t\r\n") == std::string_view::npos) body_text = "{}";
  auto err = parser().parse(body_text.data(), body_text.size()).get(body);
  if (err != simdjson::SUCCESS || !body.is_object()) {
    return reply(core::kErrorBadRequest, "body must be a JSON object");
  }
  m(hub, body, reply);
}

}  // namespace herald::api
