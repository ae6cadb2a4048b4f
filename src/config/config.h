// Herald's configuration: every setting with its default, loaded once at
// start-up from defaults < TOML file < environment (HERALD_SECTION_KEY) <
// command-line flags, validated, then shared read-only by all threads.
// Loading throws ConfigError with a message naming the bad key.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace herald::config {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class SubscribeRule { kAny, kToken, kClaims };
enum class PublishRule { kNone, kSubscribers, kClaims, kAny };
enum class SchemaRule { kAny, kEvent };

// [[namespace]]: rules for channels "<name>:...". The default namespace (name
// "") covers channels without ':'.
struct Namespace {
  std::string name;
  SubscribeRule subscribe = SubscribeRule::kAny;
  PublishRule publish = PublishRule::kSubscribers;
  uint32_t history_size = 0;       // events kept per channel; 0 = no history
  uint32_t history_ttl = 300;      // seconds of history after the last event
  bool presence = false;
  bool join_leave = false;
  uint32_t max_message_bytes = 0;  // 0 = [limits] max_message_bytes
  SchemaRule schema = SchemaRule::kEvent;

  bool operator==(const Namespace&) const = default;
};

struct Server {
  std::string address = "0.0.0.0";
  uint16_t port = 8000;
  uint32_t workers = 0;  // 0 = number of cores
  double shutdown_timeout = 5.0;  // seconds to flush goodbyes on SIGTERM
  // Seconds a flush round may be held back when a worker is saturated by
  // writes (net/flush_pacer.h); 0 = never.
  double max_flush_delay = 0.002;
  // Glob patterns ("https://*.example.com") for the Origin of WebSocket and
  // SSE requests; empty = every origin.
  std::vector<std::string> allowed_origins;
  bool allow_missing_origin = true;  // requests without Origin (non-browsers)

  bool operator==(const Server&) const = default;
};

struct Tls {
  std::string cert_file;
  std::string key_file;

  bool operator==(const Tls&) const = default;
};

struct Api {
  std::string key;  // empty = the API is disabled (every call gets 401)
  // A separate listener for /api/* and /metrics; port 0 = on the client port.
  std::string address = "127.0.0.1";
  uint16_t port = 0;

  bool operator==(const Api&) const = default;
};

struct Auth {
  std::string hmac_secret;
  std::string public_key_file;
  std::string jwks_file;
  std::string jwks_url;                 // http(s); fetched at start, then refreshed
  double jwks_refresh_interval = 300;   // seconds between fetches of jwks_url
  std::string audience;
  std::string issuer;
  bool allow_anonymous = false;
  uint32_t leeway = 0;                  // seconds of clock skew on exp/nbf
  uint32_t max_token_bytes = 8 * 1024;  // longer tokens are refused unread

  bool operator==(const Auth&) const = default;
};

struct Limits {
  uint32_t max_connections = 100000;
  uint32_t max_connections_per_ip = 0;      // 0 = unlimited
  double connect_rate_per_ip = 0;           // connects/s; 0 = unlimited
  double commands_per_second = 0;           // per connection; 0 = unlimited
  double publishes_per_second_per_user = 0;  // across a user's connections; 0 = unlimited
  uint32_t max_channels_per_connection = 128;
  uint32_t max_message_bytes = 64 * 1024;   // WebSocket message / command
  uint32_t max_queue_bytes = 4 * 1024 * 1024;  // out-queue; over -> 3006
  double handshake_timeout = 10.0;          // seconds to HTTP request + connect
  double idle_timeout = 0;                  // seconds without any input; 0 = off
  double ping_interval = 25.0;              // seconds between server pings
  double pong_timeout = 10.0;               // seconds to answer a ping
  uint32_t max_request_bytes = 1024 * 1024;  // HTTP body (API)
  uint32_t max_header_bytes = 16 * 1024;    // HTTP request line + headers
  uint32_t max_json_depth = 64;

  bool operator==(const Limits&) const = default;
};

struct Engine {
  std::string type = "memory";  // "memory" | "redis"
  std::string redis_address = "127.0.0.1:6379";
  uint32_t idempotency_window = 300;  // seconds
  uint32_t max_recovery_events = 1000;

  bool operator==(const Engine&) const = default;
};

struct Log {
  std::string level = "info";   // debug | info | warn | error
  std::string format = "text";  // text | json
  bool api_access = false;      // one info line per server API request

  bool operator==(const Log&) const = default;
};

// [sse]: Server-Sent Events streams (an extension of DESIGN.md's keys).
struct Sse {
  double heartbeat_interval = 15.0;  // seconds between comment lines
  double retry = 3.0;                // seconds the browser waits to reconnect

  bool operator==(const Sse&) const = default;
};

struct Testing {
  bool echo = false;

  bool operator==(const Testing&) const = default;
};

struct Config {
  Server server;
  Tls tls;
  Api api;
  Auth auth;
  std::vector<Namespace> namespaces;  // the default namespace is always present
  Limits limits;
  Engine engine;
  Log log;
  Sse sse;
  Testing testing;

  // The namespace for a channel ("chat:lobby" -> "chat"; "news" -> "").
  // Channels whose prefix names no configured namespace get the default
  // namespace (permissive default). Never nullptr after load(); nullptr only
  // on a Config without a default namespace (not made by load()).
  const Namespace* namespaceFor(std::string_view channel) const;

  bool operator==(const Config&) const = default;
};

// Flags given on the command line; unset ones do not override.
struct Overrides {
  std::map<std::string, std::string> values;  // "server.port" -> "9000"
};

// Loads the configuration. `config_file` may be empty (defaults only).
// `environ` is the process environment (KEY=VALUE strings).
Config load(const std::string& config_file, char** environ, const Overrides& flags);

// The complete, commented default configuration in TOML (herald genconfig).
std::string defaultToml();

}  // namespace herald::config
