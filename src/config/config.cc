// Configuration loading: one table of fields (section, key, where the value
// lives in Config, its range and its one-line help) drives the TOML reader,
// the environment and flag readers, and defaultToml(), so a key cannot be
// readable from one layer and missing from another.
#include "config/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <span>
#include <sstream>
#include <type_traits>
#include <utility>
#include <variant>

namespace herald::config {
namespace {

constexpr std::string_view kEnvPrefix = "HERALD_";
constexpr std::string_view kEnvConfigFile = "HERALD_CONFIG";
constexpr std::string_view kNamespaceSection = "namespace";
constexpr double kMaxSeconds = 365.0 * 24 * 3600;  // longer is surely a typo
constexpr double kMaxRate = 1e9;
constexpr uint32_t kMaxWorkers = 64;  // the broker keeps a 64-bit worker mask per channel
constexpr uint32_t kMaxJsonDepth = 1024;  // simdjson's own maximum

constexpr std::array<std::string_view, 2> kEngineTypes = {"memory", "redis"};
constexpr std::array<std::string_view, 4> kLogLevels = {"debug", "info", "warn",
                                                        "error"};
constexpr std::array<std::string_view, 2> kLogFormats = {"text", "json"};

constexpr std::array<std::pair<std::string_view, SubscribeRule>, 3> kSubscribeNames = {{
    {"any", SubscribeRule::kAny},
    {"token", SubscribeRule::kToken},
    {"claims", SubscribeRule::kClaims},
}};
constexpr std::array<std::pair<std::string_view, PublishRule>, 4> kPublishNames = {{
    {"none", PublishRule::kNone},
    {"subscribers", PublishRule::kSubscribers},
    {"claims", PublishRule::kClaims},
    {"any", PublishRule::kAny},
}};
constexpr std::array<std::pair<std::string_view, SchemaRule>, 2> kSchemaNames = {{
    {"any", SchemaRule::kAny},
    {"event", SchemaRule::kEvent},
}};

std::span<const std::pair<std::string_view, SubscribeRule>> enumNames(SubscribeRule*) {
  return kSubscribeNames;
}
std::span<const std::pair<std::string_view, PublishRule>> enumNames(PublishRule*) {
  return kPublishNames;
}
std::span<const std::pair<std::string_view, SchemaRule>> enumNames(SchemaRule*) {
  return kSchemaNames;
}

using Strings = std::vector<std::string>;
using Target = std::variant<std::string*, bool*, uint16_t*, uint32_t*, double*,
                            SubscribeRule*, PublishRule*, SchemaRule*, Strings*>;

// One configuration key. `section` is empty for [[namespace]] keys.
struct Field {
  std::string_view section = {};
  std::string_view key = {};
  Target target = {};
  std::string_view help = {};
  double min = 0;                                    // integers and numbers
  double max = std::numeric_limits<double>::max();   // clamped to the type
  bool above_min = false;                            // numbers: value > min
  std::span<const std::string_view> choices = {};    // strings: allowed values
  bool required = false;                             // strings: not empty
};

std::vector<Field> sectionFields(Config& c) {
  return {
      {.section = "server", .key = "address", .target = &c.server.address,
       .help = "Address to listen on (IPv4 or IPv6)", .required = true},
      {.section = "server", .key = "port", .target = &c.server.port,
       .help = "TCP port for WebSocket, SSE, /health, and the server API and /metrics "
               "unless api.port is set",
       .min = 1},
      {.section = "server", .key = "workers", .target = &c.server.workers,
       .help = "Worker threads, each with its own event loop; 0 = number of cores",
       .max = kMaxWorkers},
      {.section = "server", .key = "shutdown_timeout", .target = &c.server.shutdown_timeout,
       .help = "Seconds to flush goodbyes (3001) to clients on SIGTERM",
       .max = kMaxSeconds},
      {.section = "server", .key = "max_flush_delay", .target = &c.server.max_flush_delay,
       .help = "When flushing took over 90% of a worker's second, hold each flush round back "
               "up to this many seconds so queued events share a write; 0 = never",
       .max = 0.1},
      {.section = "server", .key = "allowed_origins", .target = &c.server.allowed_origins,
       .help = "Origins allowed to open WebSocket/SSE, globs like \"https://*.example.com\"; "
               "[] = any (environment: comma-separated)"},
      {.section = "server", .key = "allow_missing_origin",
       .target = &c.server.allow_missing_origin,
       .help = "Allow WebSocket/SSE requests without an Origin header (non-browser clients)"},

      {.section = "tls", .key = "cert_file", .target = &c.tls.cert_file,
       .help = "PEM certificate chain; with key_file, serve only TLS (SIGHUP reloads both); "
               "empty = plain TCP"},
      {.section = "tls", .key = "key_file", .target = &c.tls.key_file,
       .help = "PEM private key of cert_file"},

      {.section = "api", .key = "key", .target = &c.api.key,
       .help = "Server API key (X-API-Key header); empty = the API is disabled (401)"},
      {.section = "api", .key = "address", .target = &c.api.address,
       .help = "Address of the separate API listener (used when api.port is set)",
       .required = true},
      {.section = "api", .key = "port", .target = &c.api.port,
       .help = "Separate plaintext port for /api/* and /metrics (then not on server.port); "
               "0 = on server.port"},

      {.section = "auth", .key = "hmac_secret", .target = &c.auth.hmac_secret,
       .help = "Secret for HS256/384/512 tokens; empty = HMAC tokens are refused"},
      {.section = "auth", .key = "public_key_file", .target = &c.auth.public_key_file,
       .help = "PEM public key for RS*/ES*/EdDSA tokens; empty = none"},
      {.section = "auth", .key = "jwks_file", .target = &c.auth.jwks_file,
       .help = "JWKS file of public keys, chosen by the token's kid; empty = none"},
      {.section = "auth", .key = "jwks_url", .target = &c.auth.jwks_url,
       .help = "JWKS URL (http:// or https://), fetched at start and refreshed; empty = none"},
      {.section = "auth", .key = "jwks_refresh_interval",
       .target = &c.auth.jwks_refresh_interval,
       .help = "Seconds between fetches of jwks_url; a failed fetch keeps the last keys",
       .max = kMaxSeconds, .above_min = true},
      {.section = "auth", .key = "audience", .target = &c.auth.audience,
       .help = "Required aud claim; empty = not checked"},
      {.section = "auth", .key = "issuer", .target = &c.auth.issuer,
       .help = "Required iss claim; empty = not checked"},
      {.section = "auth", .key = "allow_anonymous", .target = &c.auth.allow_anonymous,
       .help = "Accept connect without a token (anonymous user \"\")"},
      {.section = "auth", .key = "leeway", .target = &c.auth.leeway,
       .help = "Seconds of clock skew tolerated on exp and nbf", .max = kMaxSeconds},
      {.section = "auth", .key = "max_token_bytes", .target = &c.auth.max_token_bytes,
       .help = "Longest token accepted, in bytes; longer ones are refused unread", .min = 1},

      {.section = "limits", .key = "max_connections", .target = &c.limits.max_connections,
       .help = "Connections per node; over it new ones are closed with 3008", .min = 1},
      {.section = "limits", .key = "max_connections_per_ip",
       .target = &c.limits.max_connections_per_ip,
       .help = "Connections per client IP; 0 = unlimited"},
      {.section = "limits", .key = "connect_rate_per_ip",
       .target = &c.limits.connect_rate_per_ip,
       .help = "New connections per second per client IP; 0 = unlimited", .max = kMaxRate},
      {.section = "limits", .key = "commands_per_second",
       .target = &c.limits.commands_per_second,
       .help = "Commands per second per connection; 0 = unlimited", .max = kMaxRate},
      {.section = "limits", .key = "publishes_per_second_per_user",
       .target = &c.limits.publishes_per_second_per_user,
       .help = "Client publishes per second per user, across its connections; 0 = unlimited",
       .max = kMaxRate},
      {.section = "limits", .key = "max_channels_per_connection",
       .target = &c.limits.max_channels_per_connection,
       .help = "Subscriptions per connection", .min = 1},
      {.section = "limits", .key = "max_message_bytes", .target = &c.limits.max_message_bytes,
       .help = "Largest WebSocket message or command, in bytes (over: 3011)", .min = 1},
      {.section = "limits", .key = "max_queue_bytes", .target = &c.limits.max_queue_bytes,
       .help = "Out-queue per connection, in bytes; over it: disconnect 3006", .min = 1},
      {.section = "limits", .key = "handshake_timeout", .target = &c.limits.handshake_timeout,
       .help = "Seconds from accept to the HTTP request and connect (over: 3005)",
       .max = kMaxSeconds, .above_min = true},
      {.section = "limits", .key = "idle_timeout", .target = &c.limits.idle_timeout,
       .help = "Seconds without any input before closing; 0 = off", .max = kMaxSeconds},
      {.section = "limits", .key = "ping_interval", .target = &c.limits.ping_interval,
       .help = "Seconds between server pings", .max = kMaxSeconds, .above_min = true},
      {.section = "limits", .key = "pong_timeout", .target = &c.limits.pong_timeout,
       .help = "Seconds a client has to answer a ping", .max = kMaxSeconds,
       .above_min = true},
      {.section = "limits", .key = "max_request_bytes", .target = &c.limits.max_request_bytes,
       .help = "Largest HTTP request body (server API), in bytes (over: 413)", .min = 1},
      {.section = "limits", .key = "max_header_bytes", .target = &c.limits.max_header_bytes,
       .help = "Largest HTTP request line plus headers, in bytes", .min = 1},
      {.section = "limits", .key = "max_json_depth", .target = &c.limits.max_json_depth,
       .help = "Deepest JSON nesting accepted from clients and the API", .min = 1,
       .max = kMaxJsonDepth},

      {.section = "engine", .key = "type", .target = &c.engine.type,
       .help = "Broker: one node in memory, or many nodes through Redis",
       .choices = kEngineTypes},
      {.section = "engine", .key = "redis_address", .target = &c.engine.redis_address,
       .help = "host:port of Redis 7, used when type = \"redis\"", .required = true},
      {.section = "engine", .key = "idempotency_window",
       .target = &c.engine.idempotency_window,
       .help = "Seconds (integer) a publish idempotencyKey is remembered"},
      {.section = "engine", .key = "max_recovery_events",
       .target = &c.engine.max_recovery_events,
       .help = "Most events replayed on recovery; more missed -> recovered: false"},

      {.section = "log", .key = "level", .target = &c.log.level,
       .help = "Least severe level written", .choices = kLogLevels},
      {.section = "log", .key = "format", .target = &c.log.format,
       .help = "Log line format", .choices = kLogFormats},
      {.section = "log", .key = "api_access", .target = &c.log.api_access,
       .help = "Access log: one info line per server API request (method, status, time, client)"},

      {.section = "sse", .key = "heartbeat_interval", .target = &c.sse.heartbeat_interval,
       .help = "Seconds between heartbeat comments on an SSE stream (keeps proxies open)",
       .max = kMaxSeconds, .above_min = true},
      {.section = "sse", .key = "retry", .target = &c.sse.retry,
       .help = "Seconds a browser waits before reconnecting a dropped SSE stream (retry:)",
       .max = kMaxSeconds},

      {.section = "testing", .key = "echo", .target = &c.testing.echo,
       .help = "Serve a plain WebSocket echo at /echo (conformance tests only)"},
  };
}

std::vector<Field> namespaceFields(Namespace& ns) {
  return {
      {.key = "name", .target = &ns.name,
       .help = "\"\" = the default namespace; others: [A-Za-z0-9_.-]+, unique"},
      {.key = "subscribe", .target = &ns.subscribe,
       .help = "Who may subscribe: anyone, subscription token, channels claim"},
      {.key = "publish", .target = &ns.publish,
       .help = "Who may publish from a client; the API always may"},
      {.key = "history_size", .target = &ns.history_size,
       .help = "Events kept per channel for history and recovery; 0 = no history"},
      {.key = "history_ttl", .target = &ns.history_ttl,
       .help = "Seconds (integer) history is kept after a channel's last event", .min = 1},
      {.key = "presence", .target = &ns.presence,
       .help = "Track who is subscribed (presence command and API)"},
      {.key = "join_leave", .target = &ns.join_leave,
       .help = "Push join and leave events to subscribers"},
      {.key = "max_message_bytes", .target = &ns.max_message_bytes,
       .help = "Largest publication, in bytes; 0 = [limits] max_message_bytes"},
      {.key = "schema", .target = &ns.schema,
       .help = "Payload check: any JSON, or the event schema"},
  };
}

// ---- formatting -------------------------------------------------------------

std::string formatNumber(double value) {
  std::array<char, 32> buffer{};
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  return std::string(buffer.data(), result.ptr);
}

// A TOML basic string: also how string values are shown in error messages.
std::string quote(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7f) {
      std::array<char, 8> escaped{};
      std::snprintf(escaped.data(), escaped.size(), "\\u%04x", byte);
      out += escaped.data();
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string joinChoices(std::span<const std::string_view> choices) {
  std::string out;
  for (const auto choice : choices) {
    if (!out.empty()) out += ", ";
    out += quote(choice);
  }
  return out;
}

// The allowed spellings of a string or enum field; empty for free text.
std::vector<std::string_view> choicesOf(const Field& field) {
  return std::visit(
      [&](auto* target) -> std::vector<std::string_view> {
        using T = std::remove_pointer_t<decltype(target)>;
        if constexpr (std::is_enum_v<T>) {
          std::vector<std::string_view> names;
          for (const auto& [name, value] : enumNames(target)) names.push_back(name);
          return names;
        } else {
          return {field.choices.begin(), field.choices.end()};
        }
      },
      field.target);
}

template <class T>
double typeMax() {
  return static_cast<double>(std::numeric_limits<T>::max());
}

// "an integer in 1..65535", "one of \"debug\", ..." — the tail of every error.
std::string expectation(const Field& field) {
  return std::visit(
      [&](auto* target) -> std::string {
        using T = std::remove_pointer_t<decltype(target)>;
        if constexpr (std::is_enum_v<T>) {
          return "one of " + joinChoices(choicesOf(field));
        } else if constexpr (std::is_same_v<T, std::string>) {
          if (!field.choices.empty()) return "one of " + joinChoices(field.choices);
          return field.required ? "a non-empty string" : "a string";
        } else if constexpr (std::is_same_v<T, bool>) {
          return "a boolean";
        } else if constexpr (std::is_same_v<T, Strings>) {
          return "an array of strings";
        } else if constexpr (std::is_integral_v<T>) {
          return "an integer in " + formatNumber(field.min) + ".." +
                 formatNumber(std::min(field.max, typeMax<T>()));
        } else if constexpr (std::is_same_v<T, double>) {
          return "a number " + std::string(field.above_min ? "> " : ">= ") +
                 formatNumber(field.min) + " and <= " + formatNumber(field.max);
        }
      },
      field.target);
}

std::string toLower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string toUpper(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string envName(const Field& field) {
  return std::string(kEnvPrefix) + toUpper(field.section) + "_" + toUpper(field.key);
}

std::string dottedName(const Field& field) {
  return std::string(field.section) + "." + std::string(field.key);
}

size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// "; did you mean X?" for the closest candidate within two edits, else "".
std::string suggestion(std::string_view wrong, const std::vector<std::string>& candidates) {
  const std::string* best = nullptr;
  size_t best_distance = 3;
  for (const auto& candidate : candidates) {
    const size_t distance = editDistance(toLower(wrong), toLower(candidate));
    if (distance < best_distance) {
      best_distance = distance;
      best = &candidate;
    }
  }
  return best ? "; did you mean " + *best + "?" : "";
}

// ---- setting values ---------------------------------------------------------

// A value as read, before it is checked against its field.
using Raw = std::variant<bool, int64_t, double, std::string, Strings>;

// Every problem found, so one run reports them all. toml++ visits keys in
// sorted order; file problems are put back in line order, before the
// environment's and the flags'.
class Errors {
 public:
  void add(std::string message, uint32_t line = kNoLine) {
    messages_.emplace_back(line, std::move(message));
  }

  void throwIfAny() {
    if (messages_.empty()) return;
    std::stable_sort(messages_.begin(), messages_.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::string text;
    for (const auto& [line, message] : messages_) {
      if (!text.empty()) text += '\n';
      text += message;
    }
    throw ConfigError(text);
  }

 private:
  static constexpr uint32_t kNoLine = std::numeric_limits<uint32_t>::max();
  std::vector<std::pair<uint32_t, std::string>> messages_;
};

// Where a value came from, for error messages: how to name the key, what the
// bad value looked like, and which file line, variable or flag gave it.
struct Origin {
  std::string label;   // "server.port", "namespace \"chat\".history_size"
  std::string shown;   // the value as written
  std::string where;   // "herald.toml:3", "environment HERALD_SERVER_PORT"
  uint32_t line = std::numeric_limits<uint32_t>::max();  // in the file, if any
};

void reject(const Field& field, const Origin& origin, Errors& errors) {
  errors.add(origin.label + ": must be " + expectation(field) + ", got " + origin.shown +
                 " (" + origin.where + ")",
             origin.line);
}

template <class T>
bool inRange(const Field& field, double value) {
  const double max = std::min(field.max, typeMax<T>());
  const bool above = field.above_min ? value > field.min : value >= field.min;
  return above && value <= max;
}

// Checks `raw` against the field and stores it; on failure records why.
void assign(const Field& field, const Raw& raw, const Origin& origin, Errors& errors) {
  const bool ok = std::visit(
      [&](auto* target) -> bool {
        using T = std::remove_pointer_t<decltype(target)>;
        if constexpr (std::is_same_v<T, std::string>) {
          const auto* text = std::get_if<std::string>(&raw);
          if (!text || (field.required && text->empty())) return false;
          if (!field.choices.empty() &&
              std::find(field.choices.begin(), field.choices.end(), *text) ==
                  field.choices.end()) {
            return false;
          }
          *target = *text;
          return true;
        } else if constexpr (std::is_same_v<T, bool>) {
          const auto* value = std::get_if<bool>(&raw);
          if (!value) return false;
          *target = *value;
          return true;
        } else if constexpr (std::is_same_v<T, Strings>) {
          const auto* values = std::get_if<Strings>(&raw);
          if (!values) return false;
          *target = *values;
          return true;
        } else if constexpr (std::is_integral_v<T>) {
          const auto* value = std::get_if<int64_t>(&raw);
          if (!value || !inRange<T>(field, static_cast<double>(*value))) return false;
          *target = static_cast<T>(*value);
          return true;
        } else if constexpr (std::is_same_v<T, double>) {
          double value = 0;
          if (const auto* integer = std::get_if<int64_t>(&raw)) {
            value = static_cast<double>(*integer);
          } else if (const auto* number = std::get_if<double>(&raw)) {
            value = *number;
          } else {
            return false;
          }
          if (!std::isfinite(value) || !inRange<T>(field, value)) return false;
          *target = value;
          return true;
        } else {
          const auto* text = std::get_if<std::string>(&raw);
          if (!text) return false;
          for (const auto& [name, value] : enumNames(target)) {
            if (name == *text) {
              *target = value;
              return true;
            }
          }
          return false;
        }
      },
      field.target);
  if (!ok) reject(field, origin, errors);
}

// "a, b,,c" -> {"a", "b", "c"}: a list from one environment variable or flag.
Strings splitList(std::string_view text) {
  Strings items;
  while (!text.empty()) {
    const size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front()))) item.remove_prefix(1);
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.back()))) item.remove_suffix(1);
    if (!item.empty()) items.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return items;
}

std::optional<bool> parseBool(std::string_view text) {
  const std::string lower = toLower(text);
  if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") return true;
  if (lower == "false" || lower == "0" || lower == "no" || lower == "off") return false;
  return std::nullopt;
}

// Environment and flag values are text; read them as the field's type.
void assignText(const Field& field, std::string_view text, const std::string& label,
                const std::string& where, Errors& errors) {
  const Origin origin{label, quote(text), where};
  const auto parse = [&](auto* target) -> std::optional<Raw> {
    using T = std::remove_pointer_t<decltype(target)>;
    if constexpr (std::is_same_v<T, bool>) {
      if (const auto value = parseBool(text)) return Raw{*value};
      return std::nullopt;
    } else if constexpr (std::is_same_v<T, Strings>) {
      return Raw{splitList(text)};
    } else if constexpr (std::is_integral_v<T> || std::is_same_v<T, double>) {
      using Parsed = std::conditional_t<std::is_integral_v<T>, int64_t, double>;
      Parsed value{};
      const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
      if (result.ec != std::errc() || result.ptr != text.data() + text.size()) {
        return std::nullopt;
      }
      return Raw{value};
    } else {
      return Raw{std::string(text)};
    }
  };
  if (const auto raw = std::visit(parse, field.target)) {
    assign(field, *raw, origin, errors);
  } else {
    reject(field, origin, errors);
  }
}

// A TOML array of strings, or nothing if it holds anything else.
std::optional<Strings> stringArray(const toml::array& array) {
  Strings items;
  for (const auto& element : array) {
    const auto* text = element.as_string();
    if (!text) return std::nullopt;
    items.push_back(text->get());
  }
  return items;
}

std::string whereIn(const std::string& path, const toml::source_region& source) {
  return path + ":" + std::to_string(source.begin.line);
}

// TOML values keep their TOML type: a string is never read as a number.
void assignToml(const Field& field, const toml::node& node, const std::string& label,
                const std::string& path, Errors& errors) {
  std::ostringstream shown;
  if (const auto* text = node.as_string()) {
    shown << quote(text->get());
  } else {
    node.visit([&](const auto& value) { shown << value; });
  }
  const Origin origin{label, shown.str(), whereIn(path, node.source()),
                      node.source().begin.line};
  if (const auto* value = node.as_boolean()) {
    assign(field, Raw{value->get()}, origin, errors);
  } else if (const auto* integer = node.as_integer()) {
    assign(field, Raw{integer->get()}, origin, errors);
  } else if (const auto* number = node.as_floating_point()) {
    assign(field, Raw{number->get()}, origin, errors);
  } else if (const auto* text = node.as_string()) {
    assign(field, Raw{text->get()}, origin, errors);
  } else if (const auto* array = node.as_array(); array && stringArray(*array)) {
    assign(field, Raw{*stringArray(*array)}, origin, errors);
  } else {
    reject(field, origin, errors);  // dates, other arrays, tables
  }
}

// ---- layers -----------------------------------------------------------------

toml::table parseFile(const std::string& path) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    throw ConfigError("cannot read config file " + path + ": it is a directory");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError("cannot read config file " + path + ": " + std::strerror(errno));
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) throw ConfigError("cannot read config file " + path);
  try {
    return toml::parse(content.str(), path);
  } catch (const toml::parse_error& e) {
    throw ConfigError(whereIn(path, e.source()) + ": invalid TOML: " +
                      std::string(e.description()));
  }
}

// Applies the keys of one table; names every key that is not in `fields`.
void applyTable(const toml::table& table, std::span<const Field> fields,
                const std::string& prefix, const std::string& path, Errors& errors) {
  std::vector<std::string> known;
  for (const auto& field : fields) known.emplace_back(field.key);
  for (const auto& [key, node] : table) {
    const std::string_view name = key.str();
    const auto field = std::find_if(fields.begin(), fields.end(),
                                    [name](const Field& f) { return f.key == name; });
    if (field == fields.end()) {
      errors.add("unknown key " + prefix + std::string(key.str()) + " (" +
                     whereIn(path, key.source()) + suggestion(key.str(), known) + ")",
                 key.source().begin.line);
      continue;
    }
    assignToml(*field, node, prefix + std::string(key.str()), path, errors);
  }
}

bool validNamespaceName(std::string_view name) {
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

void applyNamespaces(Config& config, const toml::node& node, const std::string& path,
                     Errors& errors) {
  const auto* array = node.as_array();
  if (!array || !array->is_array_of_tables()) {
    errors.add("namespace must be an array of tables, written [[namespace]] (" +
                   whereIn(path, node.source()) + ")",
               node.source().begin.line);
    return;
  }
  size_t index = 0;
  for (const auto& element : *array) {
    ++index;
    const auto& table = *element.as_table();
    const std::string where = whereIn(path, table.source());
    const uint32_t line = table.source().begin.line;
    Namespace ns;
    std::string prefix = "namespace #" + std::to_string(index) + ".";
    const auto* name = table.get("name");
    if (!name) {
      errors.add("namespace #" + std::to_string(index) +
                     " has no name (\"\" for the default namespace) (" + where + ")",
                 line);
    } else if (const auto* text = name->as_string(); text && validNamespaceName(text->get())) {
      prefix = "namespace \"" + text->get() + "\".";
    }
    applyTable(table, namespaceFields(ns), prefix, path, errors);
    if (!name) continue;
    if (!validNamespaceName(ns.name)) {
      errors.add("namespace #" + std::to_string(index) + ": name must be \"\" or match " +
                     "[A-Za-z0-9_.-]+, got " + quote(ns.name) + " (" + where + ")",
                 line);
      continue;
    }
    const bool duplicate = std::any_of(config.namespaces.begin(), config.namespaces.end(),
                                       [&](const Namespace& n) { return n.name == ns.name; });
    if (duplicate) {
      errors.add("namespace \"" + ns.name + "\" is configured twice (" + where + ")", line);
      continue;
    }
    config.namespaces.push_back(std::move(ns));
  }
}

void applyFile(Config& config, const std::string& path, Errors& errors) {
  const toml::table root = parseFile(path);
  auto fields = sectionFields(config);
  std::vector<std::string> sections;
  for (const auto& field : fields) {
    if (sections.empty() || sections.back() != field.section) sections.emplace_back(field.section);
  }
  sections.emplace_back(kNamespaceSection);

  for (const auto& [key, node] : root) {
    const std::string name(key.str());
    if (name == kNamespaceSection) {
      applyNamespaces(config, node, path, errors);
      continue;
    }
    const bool known = std::find(sections.begin(), sections.end(), name) != sections.end();
    const auto* table = node.as_table();
    if (!known || !table) {
      errors.add("unknown " + std::string(table ? "section [" + name + "]" : "key " + name) +
                     " (" + whereIn(path, key.source()) + suggestion(name, sections) + ")",
                 key.source().begin.line);
      continue;
    }
    std::vector<Field> section;
    std::copy_if(fields.begin(), fields.end(), std::back_inserter(section),
                 [&](const Field& f) { return f.section == name; });
    applyTable(*table, section, name + ".", path, errors);
  }
}

std::vector<std::pair<std::string, std::string>> heraldVariables(char** envp) {
  std::vector<std::pair<std::string, std::string>> variables;
  for (char** entry = envp; entry && *entry; ++entry) {
    const std::string_view text(*entry);
    const size_t equals = text.find('=');
    if (equals == std::string_view::npos || !text.starts_with(kEnvPrefix)) continue;
    variables.emplace_back(text.substr(0, equals), text.substr(equals + 1));
  }
  return variables;
}

void applyEnvironment(Config& config,
                      const std::vector<std::pair<std::string, std::string>>& variables,
                      Errors& errors) {
  const auto fields = sectionFields(config);
  std::vector<std::string> names;
  for (const auto& field : fields) names.push_back(envName(field));
  names.emplace_back(kEnvConfigFile);

  for (const auto& [name, value] : variables) {
    if (name == kEnvConfigFile) continue;
    const auto known = std::find(names.begin(), names.end(), name);
    if (known == names.end()) {
      // The value is not shown: it may be a secret.
      errors.add("environment variable " + name + " names no configuration key" +
                 suggestion(name, names));
      continue;
    }
    const Field& field = fields[static_cast<size_t>(known - names.begin())];
    assignText(field, value, dottedName(field), "environment " + name, errors);
  }
}

void applyFlags(Config& config, const Overrides& flags, Errors& errors) {
  const auto fields = sectionFields(config);
  std::vector<std::string> names;
  for (const auto& field : fields) names.push_back(dottedName(field));

  for (const auto& [name, value] : flags.values) {
    const auto known = std::find(names.begin(), names.end(), name);
    if (known == names.end()) {
      errors.add("flag for unknown configuration key " + name + suggestion(name, names));
      continue;
    }
    const Field& field = fields[static_cast<size_t>(known - names.begin())];
    assignText(field, value, name, "command line", errors);
  }
}

// Rules that span several keys, checked once every layer is applied.
void validate(const Config& config, Errors& errors) {
  if (config.api.port != 0 && config.api.port == config.server.port) {
    // SO_REUSEPORT would let both listeners bind it and split its clients.
    errors.add("api.port must differ from server.port (both are " +
               std::to_string(config.api.port) + "); 0 serves the API on server.port");
  }
  if (config.tls.cert_file.empty() != config.tls.key_file.empty()) {
    errors.add("tls.cert_file and tls.key_file must be set together (cert_file " +
               quote(config.tls.cert_file) + ", key_file " + quote(config.tls.key_file) + ")");
  }
  // One JWKS: two sources would need a rule for which wins on a shared kid.
  if (!config.auth.jwks_file.empty() && !config.auth.jwks_url.empty()) {
    errors.add("auth.jwks_file and auth.jwks_url cannot both be set (jwks_file " +
               quote(config.auth.jwks_file) + ", jwks_url " + quote(config.auth.jwks_url) + ")");
  }
  const std::string_view url = config.auth.jwks_url;
  if (!url.empty() && !url.starts_with("http://") && !url.starts_with("https://")) {
    errors.add("auth.jwks_url must start with http:// or https://, got " + quote(url));
  }
}

// ---- defaultToml ------------------------------------------------------------

template <class T>
std::string tomlValue(const T& value) {
  std::ostringstream out;
  out << toml::value<T>(value);
  return out.str();
}

std::string formatDefault(const Field& field) {
  return std::visit(
      [](auto* target) -> std::string {
        using T = std::remove_pointer_t<decltype(target)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return quote(*target);
        } else if constexpr (std::is_same_v<T, Strings>) {
          std::string out = "[";
          for (size_t i = 0; i < target->size(); ++i) out += (i ? ", " : "") + quote((*target)[i]);
          return out + "]";
        } else if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, double>) {
          return tomlValue(*target);
        } else if constexpr (std::is_integral_v<T>) {
          return tomlValue(static_cast<int64_t>(*target));
        } else {
          for (const auto& [name, value] : enumNames(target)) {
            if (value == *target) return quote(name);
          }
          return "";
        }
      },
      field.target);
}

std::string helpLine(const Field& field) {
  std::string line = "# " + std::string(field.help);
  if (const auto choices = choicesOf(field); !choices.empty()) {
    line += " (";
    for (size_t i = 0; i < choices.size(); ++i) {
      line += (i ? " | " : "") + std::string(choices[i]);
    }
    line += ")";
  }
  return line + "\n";
}

}  // namespace

const Namespace* Config::namespaceFor(std::string_view channel) const {
  const size_t colon = channel.find(':');
  const std::string_view name =
      colon == std::string_view::npos ? std::string_view() : channel.substr(0, colon);
  const Namespace* fallback = nullptr;
  for (const auto& ns : namespaces) {
    if (ns.name == name) return &ns;
    if (ns.name.empty()) fallback = &ns;
  }
  return fallback;
}

Config load(const std::string& config_file, char** envp, const Overrides& flags) {
  Config config;
  Errors errors;
  const auto variables = heraldVariables(envp);

  std::string path = config_file;
  if (path.empty()) {
    for (const auto& [name, value] : variables) {
      if (name == kEnvConfigFile) path = value;
    }
  }
  if (!path.empty()) applyFile(config, path, errors);
  applyEnvironment(config, variables, errors);
  applyFlags(config, flags, errors);
  errors.throwIfAny();

  // The default namespace always exists and comes first.
  const auto is_default = [](const Namespace& ns) { return ns.name.empty(); };
  if (std::none_of(config.namespaces.begin(), config.namespaces.end(), is_default)) {
    config.namespaces.emplace_back();
  }
  std::stable_partition(config.namespaces.begin(), config.namespaces.end(), is_default);

  validate(config, errors);
  errors.throwIfAny();
  return config;
}

std::string defaultToml() {
  Config defaults;
  std::string out =
      "# Herald configuration (TOML), as printed by `herald genconfig`: every key\n"
      "# with its default value. Precedence: defaults < this file < environment\n"
      "# HERALD_<SECTION>_<KEY> (e.g. HERALD_SERVER_PORT=9000) < command-line flags.\n"
      "# Durations are in seconds; unknown keys are an error.\n";
  std::string_view section;
  for (const auto& field : sectionFields(defaults)) {
    if (field.section != section) {
      section = field.section;
      out += "\n[" + std::string(section) + "]\n";
    }
    out += helpLine(field);
    out += std::string(field.key) + " = " + formatDefault(field) + "\n";
  }

  Namespace default_namespace;
  out +=
      "\n# Namespaces: rules for channels \"<name>:...\" (the part before the first\n"
      "# ':'). Channels without ':', or whose prefix names no configured namespace,\n"
      "# follow the default namespace (name = \"\"), which exists even if not listed.\n"
      "# Add one [[namespace]] table per namespace, for example:\n"
      "#   [[namespace]]\n"
      "#   name = \"chat\"\n"
      "#   subscribe = \"token\"\n"
      "#   history_size = 100\n"
      "#   presence = true\n"
      "[[namespace]]\n";
  for (const auto& field : namespaceFields(default_namespace)) {
    out += helpLine(field);
    out += std::string(field.key) + " = " + formatDefault(field) + "\n";
  }
  return out;
}

}  // namespace herald::config
