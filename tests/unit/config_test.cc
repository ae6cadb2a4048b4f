#include "config/config.h"

#include <gtest/gtest.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

namespace herald::config {
namespace {

// A config file that lives as long as the test.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    static std::atomic<int> counter{0};
    path_ = (std::filesystem::temp_directory_path() /
             ("herald_config_test_" + std::to_string(::getpid()) + "_" +
              std::to_string(counter++) + ".toml"))
                .string();
    std::ofstream(path_) << content;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A fake process environment: a null-terminated array of KEY=VALUE strings.
class Env {
 public:
  Env(std::initializer_list<std::string> entries) : entries_(entries) {
    for (auto& entry : entries_) pointers_.push_back(entry.data());
    pointers_.push_back(nullptr);
  }
  char** get() { return pointers_.data(); }

 private:
  std::vector<std::string> entries_;
  std::vector<char*> pointers_;
};

Config loadDefaults() { return load("", nullptr, {}); }

Config loadToml(const std::string& toml) {
  TempFile file(toml);
  return load(file.path(), nullptr, {});
}

Config loadEnv(Env env) { return load("", env.get(), {}); }

Config loadFlags(std::map<std::string, std::string> values) {
  return load("", nullptr, Overrides{std::move(values)});
}

// The message of the ConfigError `load` throws, or "" when it does not throw.
template <class Load>
std::string errorOf(Load load_call) {
  try {
    load_call();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

std::string tomlError(const std::string& toml) {
  return errorOf([&] { loadToml(toml); });
}

std::string envError(std::initializer_list<std::string> entries) {
  return errorOf([&] { loadEnv(Env(entries)); });
}

std::string flagError(std::map<std::string, std::string> values) {
  return errorOf([&] { loadFlags(values); });
}

// ---- defaults and precedence ------------------------------------------------

TEST(ConfigTest, DefaultsAreTheStructInitializersPlusTheDefaultNamespace) {
  Config expected;
  expected.namespaces.emplace_back();
  const Config config = loadDefaults();
  EXPECT_EQ(config, expected);
  EXPECT_EQ(config.server.port, 8000);
  EXPECT_EQ(config.log.level, "info");
  ASSERT_EQ(config.namespaces.size(), 1u);
  EXPECT_EQ(config.namespaces[0].name, "");
}

TEST(ConfigTest, FileOverridesDefaults) {
  const Config config = loadToml(R"(
[server]
port = 9001
shutdown_timeout = 2
[limits]
max_queue_bytes = 1000
ping_interval = 12.5
[engine]
type = "redis"
[testing]
echo = true
)");
  EXPECT_EQ(config.server.port, 9001);
  EXPECT_EQ(config.server.shutdown_timeout, 2.0);  // an integer is fine for seconds
  EXPECT_EQ(config.limits.max_queue_bytes, 1000u);
  EXPECT_EQ(config.limits.ping_interval, 12.5);
  EXPECT_EQ(config.engine.type, "redis");
  EXPECT_TRUE(config.testing.echo);
  EXPECT_EQ(config.server.address, "0.0.0.0");  // untouched keys keep defaults
}

TEST(ConfigTest, EnvironmentOverridesFileAndFlagsOverrideEnvironment) {
  TempFile file(R"(
[server]
port = 9001
[api]
key = "from-file"
[auth]
hmac_secret = "file-secret"
allow_anonymous = false
[log]
level = "warn"
[limits]
max_queue_bytes = 1000
)");
  Env env{"HERALD_SERVER_PORT=9002",       "HERALD_API_KEY=from-env",
          "HERALD_LOG_LEVEL=error",        "HERALD_LIMITS_MAX_QUEUE_BYTES=2000",
          "HERALD_AUTH_ALLOW_ANONYMOUS=true", "HERALD_TESTING_ECHO=1",
          "PATH=/usr/bin"};

  const Config file_only = load(file.path(), nullptr, {});
  EXPECT_EQ(file_only.server.port, 9001);
  EXPECT_EQ(file_only.api.key, "from-file");

  const Config with_env = load(file.path(), env.get(), {});
  EXPECT_EQ(with_env.server.port, 9002);
  EXPECT_EQ(with_env.api.key, "from-env");
  EXPECT_EQ(with_env.log.level, "error");
  EXPECT_EQ(with_env.limits.max_queue_bytes, 2000u);
  EXPECT_TRUE(with_env.auth.allow_anonymous);
  EXPECT_TRUE(with_env.testing.echo);
  EXPECT_EQ(with_env.auth.hmac_secret, "file-secret");  // env does not name it

  const Config with_flags =
      load(file.path(), env.get(),
           Overrides{{{"server.port", "9003"},
                      {"api.key", "from-flag"},
                      {"auth.hmac_secret", "flag-secret"},
                      {"log.level", "debug"},
                      {"testing.echo", "false"}}});
  EXPECT_EQ(with_flags.server.port, 9003);
  EXPECT_EQ(with_flags.api.key, "from-flag");
  EXPECT_EQ(with_flags.auth.hmac_secret, "flag-secret");
  EXPECT_EQ(with_flags.log.level, "debug");
  EXPECT_FALSE(with_flags.testing.echo);
  EXPECT_EQ(with_flags.limits.max_queue_bytes, 2000u);  // no flag: env still wins
}

TEST(ConfigTest, EveryKeyCanBeSetFromEnvironmentAndFlags) {
  const Config config = loadEnv(Env{
      "HERALD_SERVER_ADDRESS=127.0.0.1", "HERALD_SERVER_WORKERS=3",
      "HERALD_SERVER_SHUTDOWN_TIMEOUT=1.5", "HERALD_TLS_CERT_FILE=c.pem",
      "HERALD_TLS_KEY_FILE=k.pem", "HERALD_AUTH_PUBLIC_KEY_FILE=pub.pem",
      "HERALD_AUTH_JWKS_FILE=keys.json", "HERALD_AUTH_AUDIENCE=aud",
      "HERALD_AUTH_ISSUER=iss", "HERALD_LIMITS_MAX_CONNECTIONS=10",
      "HERALD_LIMITS_MAX_CONNECTIONS_PER_IP=2", "HERALD_LIMITS_CONNECT_RATE_PER_IP=0.5",
      "HERALD_LIMITS_COMMANDS_PER_SECOND=100", "HERALD_LIMITS_MAX_CHANNELS_PER_CONNECTION=4",
      "HERALD_LIMITS_MAX_MESSAGE_BYTES=512", "HERALD_LIMITS_HANDSHAKE_TIMEOUT=3",
      "HERALD_LIMITS_IDLE_TIMEOUT=60", "HERALD_LIMITS_PING_INTERVAL=5",
      "HERALD_LIMITS_PONG_TIMEOUT=2", "HERALD_LIMITS_MAX_REQUEST_BYTES=4096",
      "HERALD_LIMITS_MAX_HEADER_BYTES=2048", "HERALD_LIMITS_MAX_JSON_DEPTH=8",
      "HERALD_ENGINE_TYPE=redis", "HERALD_ENGINE_REDIS_ADDRESS=redis:6379",
      "HERALD_ENGINE_IDEMPOTENCY_WINDOW=60", "HERALD_ENGINE_MAX_RECOVERY_EVENTS=7",
      "HERALD_LOG_FORMAT=json", "HERALD_SERVER_ALLOWED_ORIGINS=https://a.example, https://*.b.example",
      "HERALD_SERVER_ALLOW_MISSING_ORIGIN=false", "HERALD_API_ADDRESS=10.0.0.1",
      "HERALD_API_PORT=9100"});
  EXPECT_EQ(config.server.address, "127.0.0.1");
  EXPECT_EQ(config.server.workers, 3u);
  EXPECT_EQ(config.server.shutdown_timeout, 1.5);
  EXPECT_EQ(config.tls.cert_file, "c.pem");
  EXPECT_EQ(config.tls.key_file, "k.pem");
  EXPECT_EQ(config.auth.public_key_file, "pub.pem");
  EXPECT_EQ(config.auth.jwks_file, "keys.json");
  EXPECT_EQ(config.auth.audience, "aud");
  EXPECT_EQ(config.auth.issuer, "iss");
  EXPECT_EQ(config.limits.max_connections, 10u);
  EXPECT_EQ(config.limits.max_connections_per_ip, 2u);
  EXPECT_EQ(config.limits.connect_rate_per_ip, 0.5);
  EXPECT_EQ(config.limits.commands_per_second, 100.0);
  EXPECT_EQ(config.limits.max_channels_per_connection, 4u);
  EXPECT_EQ(config.limits.max_message_bytes, 512u);
  EXPECT_EQ(config.limits.handshake_timeout, 3.0);
  EXPECT_EQ(config.limits.idle_timeout, 60.0);
  EXPECT_EQ(config.limits.ping_interval, 5.0);
  EXPECT_EQ(config.limits.pong_timeout, 2.0);
  EXPECT_EQ(config.limits.max_request_bytes, 4096u);
  EXPECT_EQ(config.limits.max_header_bytes, 2048u);
  EXPECT_EQ(config.limits.max_json_depth, 8u);
  EXPECT_EQ(config.engine.type, "redis");
  EXPECT_EQ(config.engine.redis_address, "redis:6379");
  EXPECT_EQ(config.engine.idempotency_window, 60u);
  EXPECT_EQ(config.engine.max_recovery_events, 7u);
  EXPECT_EQ(config.log.format, "json");
  EXPECT_EQ(config.server.allowed_origins,
            (std::vector<std::string>{"https://a.example", "https://*.b.example"}));
  EXPECT_FALSE(config.server.allow_missing_origin);
  EXPECT_EQ(config.api.address, "10.0.0.1");
  EXPECT_EQ(config.api.port, 9100);

  const Config flagged = loadFlags({{"server.address", "::1"},
                                    {"limits.idle_timeout", "0.25"},
                                    {"auth.allow_anonymous", "yes"},
                                    {"engine.max_recovery_events", "0"},
                                    {"server.allowed_origins", "https://x.example"}});
  EXPECT_EQ(flagged.server.address, "::1");
  EXPECT_EQ(flagged.limits.idle_timeout, 0.25);
  EXPECT_TRUE(flagged.auth.allow_anonymous);
  EXPECT_EQ(flagged.engine.max_recovery_events, 0u);
  EXPECT_EQ(flagged.server.allowed_origins, std::vector<std::string>{"https://x.example"});
}

TEST(ConfigTest, HeraldConfigNamesTheFileAndTheArgumentWins) {
  TempFile from_env("[server]\nport = 9100\n");
  TempFile from_flag("[server]\nport = 9200\n");
  Env env{"HERALD_CONFIG=" + from_env.path()};
  EXPECT_EQ(load("", env.get(), {}).server.port, 9100);
  EXPECT_EQ(load(from_flag.path(), env.get(), {}).server.port, 9200);
  EXPECT_EQ(loadEnv(Env{"HERALD_CONFIG="}).server.port, 8000);  // empty: no file
}

TEST(ConfigTest, BooleansFromTextAcceptTheUsualSpellings) {
  for (const std::string yes : {"true", "1", "yes", "on", "TRUE", "Yes", "ON"}) {
    EXPECT_TRUE(loadEnv(Env{"HERALD_TESTING_ECHO=" + yes}).testing.echo) << yes;
    EXPECT_TRUE(loadFlags({{"testing.echo", yes}}).testing.echo) << yes;
  }
  for (const std::string no : {"false", "0", "no", "off", "False", "NO", "Off"}) {
    EXPECT_FALSE(loadFlags({{"testing.echo", "1"}, {"auth.allow_anonymous", no}})
                     .auth.allow_anonymous)
        << no;
    EXPECT_FALSE(loadEnv(Env{"HERALD_AUTH_ALLOW_ANONYMOUS=" + no}).auth.allow_anonymous);
  }
  const std::string error = envError({"HERALD_TESTING_ECHO=maybe"});
  EXPECT_NE(error.find("testing.echo"), std::string::npos) << error;
  EXPECT_NE(error.find("\"maybe\""), std::string::npos) << error;
  EXPECT_NE(error.find("HERALD_TESTING_ECHO"), std::string::npos) << error;
  EXPECT_NE(flagError({{"testing.echo", ""}}), "");
}

// ---- errors -----------------------------------------------------------------

TEST(ConfigTest, EnvironmentTypoIsRejectedWithASuggestion) {
  const std::string error = envError({"HERALD_SERVER_PROT=9000"});
  EXPECT_NE(error.find("HERALD_SERVER_PROT"), std::string::npos) << error;
  EXPECT_NE(error.find("did you mean HERALD_SERVER_PORT?"), std::string::npos) << error;
  EXPECT_NE(envError({"HERALD_FOO=1"}), "");
  EXPECT_NE(envError({"HERALD_SERVER=1"}), "");
  EXPECT_NE(envError({"HERALD_=1"}), "");
}

TEST(ConfigTest, EnvironmentTypoDoesNotShowTheValue) {
  const std::string error = envError({"HERALD_API_KYE=top-secret"});
  EXPECT_NE(error.find("HERALD_API_KYE"), std::string::npos) << error;
  EXPECT_EQ(error.find("top-secret"), std::string::npos) << error;
}

TEST(ConfigTest, EnvironmentDoesNotAddressNamespaces) {
  EXPECT_NE(envError({"HERALD_NAMESPACE_HISTORY_SIZE=10"}), "");
  EXPECT_NE(flagError({{"namespace.history_size", "10"}}), "");
}

TEST(ConfigTest, OtherEnvironmentVariablesAreIgnored) {
  EXPECT_EQ(loadEnv(Env{"PATH=/bin", "HERALDRY=1", "herald_server_port=1", "NOEQUALS"}),
            loadDefaults());
}

TEST(ConfigTest, UnknownFlagKeyIsRejected) {
  const std::string error = flagError({{"server.prot", "9000"}});
  EXPECT_NE(error.find("server.prot"), std::string::npos) << error;
  EXPECT_NE(error.find("server.port"), std::string::npos) << error;
  EXPECT_NE(flagError({{"port", "9000"}}), "");
}

TEST(ConfigTest, UnknownTomlKeysAndSectionsAreAllNamed) {
  const std::string error = tomlError(R"(
[server]
prot = 9000
[limts]
max_connections = 1
[limits]
max_queue_byte = 5
top_level = 1
)");
  EXPECT_NE(error.find("unknown key server.prot"), std::string::npos) << error;
  EXPECT_NE(error.find("did you mean port?"), std::string::npos) << error;
  EXPECT_NE(error.find("unknown section [limts]"), std::string::npos) << error;
  EXPECT_NE(error.find("did you mean limits?"), std::string::npos) << error;
  EXPECT_NE(error.find("limits.max_queue_byte"), std::string::npos) << error;
  EXPECT_NE(error.find("limits.top_level"), std::string::npos) << error;
  EXPECT_NE(error.find(":3"), std::string::npos) << error;  // the line of server.prot

  EXPECT_NE(tomlError("port = 9000\n").find("unknown key port"), std::string::npos);
  EXPECT_NE(tomlError("[server.extra]\nx = 1\n").find("server.extra"), std::string::npos);
}

TEST(ConfigTest, WrongTomlTypesAreRejectedWithKeyAndValue) {
  const std::string error = tomlError("[server]\nport = \"9000\"\n");
  EXPECT_NE(error.find("server.port"), std::string::npos) << error;
  EXPECT_NE(error.find("\"9000\""), std::string::npos) << error;
  EXPECT_NE(error.find("1..65535"), std::string::npos) << error;

  EXPECT_NE(tomlError("[testing]\necho = \"yes\"\n").find("testing.echo"), std::string::npos);
  EXPECT_NE(tomlError("[testing]\necho = 1\n"), "");
  EXPECT_NE(tomlError("[limits]\nidle_timeout = \"5\"\n"), "");
  EXPECT_NE(tomlError("[limits]\nmax_queue_bytes = 10.5\n").find("10.5"), std::string::npos);
  EXPECT_NE(tomlError("[api]\nkey = 42\n"), "");
  EXPECT_NE(tomlError("[api]\nkey = [\"a\"]\n"), "");
  EXPECT_NE(tomlError("server = 1\n"), "");
  EXPECT_NE(tomlError("[limits]\nidle_timeout = 1979-05-27\n"), "");
}

TEST(ConfigTest, OutOfRangeValuesAreRejected) {
  for (const char* port : {"0", "65536", "-1", "99999999999999999999"}) {
    const std::string error = envError({std::string("HERALD_SERVER_PORT=") + port});
    EXPECT_NE(error.find("server.port"), std::string::npos) << port << ": " << error;
    EXPECT_NE(error.find(port), std::string::npos) << port << ": " << error;
  }
  EXPECT_NE(tomlError("[server]\nport = 0\n").find("server.port"), std::string::npos);
  EXPECT_NE(tomlError("[server]\nport = 65536\n").find("65536"), std::string::npos);
  EXPECT_NE(flagError({{"server.port", "70000"}}).find("70000"), std::string::npos);

  const std::string negative = tomlError("[limits]\nmax_queue_bytes = -1\n");
  EXPECT_NE(negative.find("limits.max_queue_bytes"), std::string::npos) << negative;
  EXPECT_NE(negative.find("-1"), std::string::npos) << negative;
  EXPECT_NE(tomlError("[limits]\nmax_connections = 4294967296\n"), "");
  EXPECT_NE(tomlError("[limits]\nmax_message_bytes = 0\n"), "");
  EXPECT_NE(tomlError("[limits]\nmax_json_depth = 5000\n"), "");
  EXPECT_NE(tomlError("[server]\nworkers = 100000\n"), "");
  EXPECT_NE(tomlError("[limits]\nidle_timeout = -0.5\n").find("-0.5"), std::string::npos);
  EXPECT_NE(tomlError("[limits]\nping_interval = 0\n"), "");
  EXPECT_NE(tomlError("[limits]\nidle_timeout = inf\n"), "");
  EXPECT_NE(tomlError("[limits]\nidle_timeout = nan\n"), "");
  EXPECT_NE(tomlError("[limits]\nidle_timeout = 1e12\n"), "");
  EXPECT_NE(envError({"HERALD_LIMITS_IDLE_TIMEOUT=inf"}), "");
  EXPECT_NE(envError({"HERALD_LIMITS_IDLE_TIMEOUT=5s"}), "");
  EXPECT_NE(envError({"HERALD_LIMITS_MAX_QUEUE_BYTES=-5"}), "");
  EXPECT_NE(envError({"HERALD_LIMITS_MAX_QUEUE_BYTES= 5"}), "");
  EXPECT_NE(envError({"HERALD_ENGINE_IDEMPOTENCY_WINDOW=2.5"}), "");
  EXPECT_EQ(loadToml("[limits]\nidle_timeout = 0\n").limits.idle_timeout, 0.0);
  EXPECT_EQ(loadToml("[server]\nport = 65535\n").server.port, 65535);
}

TEST(ConfigTest, ValuesOutsideTheirListAreRejected) {
  const std::string level = flagError({{"log.level", "verbose"}});
  EXPECT_NE(level.find("log.level"), std::string::npos) << level;
  EXPECT_NE(level.find("\"verbose\""), std::string::npos) << level;
  EXPECT_NE(level.find("\"debug\", \"info\", \"warn\", \"error\""), std::string::npos)
      << level;
  EXPECT_NE(flagError({{"log.level", "INFO"}}), "");  // the names are lower case
  EXPECT_NE(tomlError("[log]\nformat = \"xml\"\n").find("log.format"), std::string::npos);
  EXPECT_NE(envError({"HERALD_ENGINE_TYPE=kafka"}).find("engine.type"), std::string::npos);
}

TEST(ConfigTest, EmptyRequiredStringsAreRejected) {
  EXPECT_NE(tomlError("[server]\naddress = \"\"\n").find("server.address"),
            std::string::npos);
  EXPECT_NE(envError({"HERALD_ENGINE_REDIS_ADDRESS="}), "");
}

TEST(ConfigTest, TlsNeedsBothFiles) {
  EXPECT_NE(tomlError("[tls]\ncert_file = \"c.pem\"\n").find("tls.key_file"),
            std::string::npos);
  EXPECT_NE(envError({"HERALD_TLS_KEY_FILE=k.pem"}), "");
  // Completed by a later layer: fine.
  TempFile file("[tls]\ncert_file = \"c.pem\"\n");
  Env env{"HERALD_TLS_KEY_FILE=k.pem"};
  EXPECT_EQ(load(file.path(), env.get(), {}).tls.key_file, "k.pem");
}

TEST(ConfigTest, AllowedOriginsIsAnArrayOfStrings) {
  const Config config = loadToml(R"(
[server]
allowed_origins = ["https://*.example.com", "http://localhost:*"]
allow_missing_origin = false
)");
  EXPECT_EQ(config.server.allowed_origins,
            (std::vector<std::string>{"https://*.example.com", "http://localhost:*"}));
  EXPECT_FALSE(config.server.allow_missing_origin);
  EXPECT_TRUE(loadDefaults().server.allowed_origins.empty());
  EXPECT_TRUE(loadDefaults().server.allow_missing_origin);
  EXPECT_TRUE(loadEnv(Env{"HERALD_SERVER_ALLOWED_ORIGINS="}).server.allowed_origins.empty());

  const std::string mixed = tomlError("[server]\nallowed_origins = [\"a\", 1]\n");
  EXPECT_NE(mixed.find("server.allowed_origins"), std::string::npos) << mixed;
  EXPECT_NE(mixed.find("an array of strings"), std::string::npos) << mixed;
  EXPECT_NE(tomlError("[server]\nallowed_origins = \"https://a.example\"\n"), "");
}

TEST(ConfigTest, ApiPortMustDifferFromServerPort) {
  EXPECT_EQ(loadDefaults().api.port, 0);
  EXPECT_EQ(loadFlags({{"api.port", "9001"}}).api.port, 9001);
  const std::string error = flagError({{"server.port", "9001"}, {"api.port", "9001"}});
  EXPECT_NE(error.find("api.port"), std::string::npos) << error;
}

TEST(ConfigTest, SecurityKeysHaveSafeDefaultsAndAreRead) {
  const Config defaults = loadDefaults();
  EXPECT_EQ(defaults.auth.leeway, 0u);
  EXPECT_EQ(defaults.auth.max_token_bytes, 8192u);
  EXPECT_EQ(defaults.auth.jwks_url, "");
  EXPECT_EQ(defaults.auth.jwks_refresh_interval, 300.0);
  EXPECT_EQ(defaults.limits.publishes_per_second_per_user, 0.0);

  const Config config = loadEnv(Env{
      "HERALD_AUTH_LEEWAY=5", "HERALD_AUTH_MAX_TOKEN_BYTES=4096",
      "HERALD_AUTH_JWKS_URL=https://idp.example/jwks.json",
      "HERALD_AUTH_JWKS_REFRESH_INTERVAL=1.5", "HERALD_LIMITS_PUBLISHES_PER_SECOND_PER_USER=20"});
  EXPECT_EQ(config.auth.leeway, 5u);
  EXPECT_EQ(config.auth.max_token_bytes, 4096u);
  EXPECT_EQ(config.auth.jwks_url, "https://idp.example/jwks.json");
  EXPECT_EQ(config.auth.jwks_refresh_interval, 1.5);
  EXPECT_EQ(config.limits.publishes_per_second_per_user, 20.0);
}

TEST(ConfigTest, BadSecurityKeysAreRejected) {
  EXPECT_NE(tomlError("[auth]\nmax_token_bytes = 0\n").find("auth.max_token_bytes"),
            std::string::npos);
  EXPECT_NE(tomlError("[auth]\nleeway = -1\n").find("auth.leeway"), std::string::npos);
  EXPECT_NE(tomlError("[auth]\njwks_refresh_interval = 0\n"), "");
  EXPECT_NE(tomlError("[limits]\npublishes_per_second_per_user = -1\n"), "");
  const std::string scheme = tomlError("[auth]\njwks_url = \"ftp://x/keys\"\n");
  EXPECT_NE(scheme.find("auth.jwks_url"), std::string::npos) << scheme;
  const std::string both =
      tomlError("[auth]\njwks_file = \"k.json\"\njwks_url = \"http://x/keys\"\n");
  EXPECT_NE(both.find("cannot both be set"), std::string::npos) << both;
}

TEST(ConfigTest, EveryProblemIsReportedAtOnce) {
  TempFile file("[server]\nport = 0\n[log]\nlevel = \"loud\"\n");
  Env env{"HERALD_SERVR_PORT=1"};
  const std::string error = errorOf([&] {
    load(file.path(), env.get(), Overrides{{{"limits.max_queue_bytes", "x"}}});
  });
  EXPECT_NE(error.find("server.port"), std::string::npos) << error;
  EXPECT_NE(error.find("log.level"), std::string::npos) << error;
  EXPECT_NE(error.find("HERALD_SERVR_PORT"), std::string::npos) << error;
  EXPECT_NE(error.find("limits.max_queue_bytes"), std::string::npos) << error;
}

TEST(ConfigTest, FileProblemsAreErrors) {
  const std::string missing =
      errorOf([] { load("/nonexistent/herald.toml", nullptr, {}); });
  EXPECT_NE(missing.find("/nonexistent/herald.toml"), std::string::npos) << missing;
  EXPECT_NE(errorOf([] { load(std::filesystem::temp_directory_path().string(), nullptr,
                              {}); }),
            "");
  const std::string syntax = tomlError("[server\nport = 1\n");
  EXPECT_NE(syntax.find("invalid TOML"), std::string::npos) << syntax;
  EXPECT_NE(syntax.find(":1"), std::string::npos) << syntax;
  EXPECT_NE(tomlError("[server]\nport = 1\nport = 2\n"), "");  // duplicate key
  EXPECT_EQ(loadToml(""), loadDefaults());
}

// ---- namespaces -------------------------------------------------------------

TEST(ConfigTest, NamespacesAreReadWithDefaultsForMissingKeys) {
  const Config config = loadToml(R"(
[[namespace]]
name = "chat"
subscribe = "token"
publish = "any"
history_size = 100
history_ttl = 60
presence = true
join_leave = true
max_message_bytes = 4096
schema = "any"

[[namespace]]
name = "feed.v2-x_y"
publish = "none"
)");
  ASSERT_EQ(config.namespaces.size(), 3u);
  EXPECT_EQ(config.namespaces[0], Namespace{});  // the default, added first
  const Namespace& chat = config.namespaces[1];
  EXPECT_EQ(chat.name, "chat");
  EXPECT_EQ(chat.subscribe, SubscribeRule::kToken);
  EXPECT_EQ(chat.publish, PublishRule::kAny);
  EXPECT_EQ(chat.history_size, 100u);
  EXPECT_EQ(chat.history_ttl, 60u);
  EXPECT_TRUE(chat.presence);
  EXPECT_TRUE(chat.join_leave);
  EXPECT_EQ(chat.max_message_bytes, 4096u);
  EXPECT_EQ(chat.schema, SchemaRule::kAny);
  const Namespace& feed = config.namespaces[2];
  EXPECT_EQ(feed.name, "feed.v2-x_y");
  EXPECT_EQ(feed.publish, PublishRule::kNone);
  EXPECT_EQ(feed.subscribe, SubscribeRule::kAny);
  EXPECT_EQ(feed.history_ttl, 300u);
}

TEST(ConfigTest, TheDefaultNamespaceCanBeConfiguredAndComesFirst) {
  const Config config = loadToml(R"(
[[namespace]]
name = "chat"
[[namespace]]
name = ""
subscribe = "claims"
publish = "claims"
)");
  ASSERT_EQ(config.namespaces.size(), 2u);
  EXPECT_EQ(config.namespaces[0].name, "");
  EXPECT_EQ(config.namespaces[0].subscribe, SubscribeRule::kClaims);
  EXPECT_EQ(config.namespaces[0].publish, PublishRule::kClaims);
  EXPECT_EQ(config.namespaces[1].name, "chat");
}

TEST(ConfigTest, BadNamespacesAreRejected) {
  const std::string duplicate =
      tomlError("[[namespace]]\nname = \"chat\"\n[[namespace]]\nname = \"chat\"\n");
  EXPECT_NE(duplicate.find("\"chat\" is configured twice"), std::string::npos) << duplicate;
  EXPECT_NE(tomlError("[[namespace]]\nname = \"\"\n[[namespace]]\nname = \"\"\n"), "");

  for (const char* name : {"chat:room", "a b", "caf\\u00e9", "x/y", "*"}) {
    const std::string error = tomlError(std::string("[[namespace]]\nname = \"") + name + "\"\n");
    EXPECT_NE(error.find("name must be"), std::string::npos) << name << ": " << error;
  }
  EXPECT_NE(tomlError("[[namespace]]\nsubscribe = \"any\"\n").find("has no name"),
            std::string::npos);
  EXPECT_NE(tomlError("[[namespace]]\nname = 5\n"), "");

  const std::string rule =
      tomlError("[[namespace]]\nname = \"chat\"\nsubscribe = \"everyone\"\n");
  EXPECT_NE(rule.find("namespace \"chat\".subscribe"), std::string::npos) << rule;
  EXPECT_NE(rule.find("\"everyone\""), std::string::npos) << rule;
  EXPECT_NE(rule.find("\"any\", \"token\", \"claims\""), std::string::npos) << rule;
  EXPECT_NE(tomlError("[[namespace]]\nname = \"a\"\npublish = \"all\"\n"), "");
  EXPECT_NE(tomlError("[[namespace]]\nname = \"a\"\nschema = \"json\"\n"), "");
  EXPECT_NE(tomlError("[[namespace]]\nname = \"a\"\nhistory_size = -1\n"), "");
  EXPECT_NE(tomlError("[[namespace]]\nname = \"a\"\nhistory_ttl = 0\n"), "");
  EXPECT_NE(tomlError("[[namespace]]\nname = \"a\"\npresence = \"yes\"\n"), "");

  const std::string unknown = tomlError("[[namespace]]\nname = \"a\"\nhistroy_size = 1\n");
  EXPECT_NE(unknown.find("namespace \"a\".histroy_size"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("did you mean history_size?"), std::string::npos) << unknown;

  EXPECT_NE(tomlError("[namespace]\nname = \"a\"\n").find("[[namespace]]"),
            std::string::npos);
  EXPECT_NE(tomlError("namespace = [1, 2]\n"), "");
}

TEST(ConfigTest, NamespaceForUsesThePrefixBeforeTheFirstColon) {
  const Config config = loadToml(R"(
[[namespace]]
name = "chat"
history_size = 10
[[namespace]]
name = "news"
)");
  ASSERT_NE(config.namespaceFor("chat:lobby"), nullptr);
  EXPECT_EQ(config.namespaceFor("chat:lobby")->name, "chat");
  EXPECT_EQ(config.namespaceFor("chat:a:b")->name, "chat");
  EXPECT_EQ(config.namespaceFor("chat:")->name, "chat");
  EXPECT_EQ(config.namespaceFor("news:1")->name, "news");
  // No ':' -> the default namespace, even when the channel equals a name.
  EXPECT_EQ(config.namespaceFor("news")->name, "");
  EXPECT_EQ(config.namespaceFor("lobby")->name, "");
  EXPECT_EQ(config.namespaceFor("")->name, "");
  EXPECT_EQ(config.namespaceFor(":x")->name, "");
  // An unconfigured prefix follows the default namespace's rules.
  EXPECT_EQ(config.namespaceFor("other:x")->name, "");
  EXPECT_EQ(config.namespaceFor("Chat:x")->name, "");  // names are case-sensitive
  EXPECT_EQ(config.namespaceFor("other:x"), &config.namespaces[0]);
}

TEST(ConfigTest, NamespaceForWithoutADefaultNamespaceIsNull) {
  Config config;  // not from load(): no namespaces at all
  EXPECT_EQ(config.namespaceFor("chat:x"), nullptr);
  EXPECT_EQ(config.namespaceFor("x"), nullptr);
}

// ---- defaultToml ------------------------------------------------------------

TEST(ConfigTest, DefaultTomlRoundTripsToTheDefaults) {
  EXPECT_EQ(loadToml(defaultToml()), loadDefaults());
}

TEST(ConfigTest, DefaultTomlHasEveryKeyWithAComment) {
  const std::set<std::string> expected = {
      "server.address", "server.port", "server.workers", "server.shutdown_timeout",
      "server.max_flush_delay",
      "server.allowed_origins", "server.allow_missing_origin",
      "tls.cert_file", "tls.key_file", "api.key", "api.address", "api.port", "auth.hmac_secret",
      "auth.public_key_file", "auth.jwks_file", "auth.jwks_url", "auth.jwks_refresh_interval",
      "auth.audience", "auth.issuer", "auth.allow_anonymous", "auth.leeway",
      "auth.max_token_bytes", "limits.max_connections", "limits.max_connections_per_ip",
      "limits.connect_rate_per_ip", "limits.commands_per_second",
      "limits.publishes_per_second_per_user",
      "limits.max_channels_per_connection", "limits.max_message_bytes",
      "limits.max_queue_bytes", "limits.handshake_timeout", "limits.idle_timeout",
      "limits.ping_interval", "limits.pong_timeout", "limits.max_request_bytes",
      "limits.max_header_bytes", "limits.max_json_depth", "engine.type",
      "engine.redis_address", "engine.idempotency_window", "engine.max_recovery_events",
      "log.level", "log.format", "log.api_access", "sse.heartbeat_interval", "sse.retry",
      "testing.echo", "namespace.name", "namespace.subscribe",
      "namespace.publish", "namespace.history_size", "namespace.history_ttl",
      "namespace.presence", "namespace.join_leave", "namespace.max_message_bytes",
      "namespace.schema"};

  const std::string text = defaultToml();
  const toml::table root = toml::parse(text);
  std::set<std::string> found;
  for (const auto& [section, node] : root) {
    const toml::table* table = node.as_table();
    if (const auto* array = node.as_array()) {
      ASSERT_EQ(array->size(), 1u);
      table = array->get(0)->as_table();
    }
    ASSERT_NE(table, nullptr) << section;
    for (const auto& [key, value] : *table) {
      found.insert(std::string(section.str()) + "." + std::string(key.str()));
    }
  }
  EXPECT_EQ(found, expected);

  // Each key line is preceded by its one-line comment.
  std::istringstream lines(text);
  std::string previous;
  std::string line;
  int keys = 0;
  while (std::getline(lines, line)) {
    if (!line.empty() && line[0] != '#' && line[0] != '[') {
      ++keys;
      EXPECT_EQ(previous.rfind("# ", 0), 0u) << line;
    }
    previous = line;
  }
  EXPECT_EQ(keys, static_cast<int>(expected.size()));
}

TEST(ConfigTest, ErrorsAreConfigErrors) {
  EXPECT_THROW(loadFlags({{"server.port", "0"}}), ConfigError);
  EXPECT_THROW(loadToml("[nope]\n"), ConfigError);
  EXPECT_THROW(loadEnv(Env{"HERALD_NOPE=1"}), ConfigError);
  EXPECT_THROW(load("/nonexistent.toml", nullptr, {}), ConfigError);
}

}  // namespace
}  // namespace herald::config
