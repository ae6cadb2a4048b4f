// herald: the command line (DESIGN.md "CLI"). Subcommands only; the server
// itself is server::Server.
#include <CLI/CLI.hpp>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "auth/jwt.h"
#include "config/config.h"
#include "log/log.h"
#include "server/server.h"
#include "server/verifiers.h"

extern char** environ;

namespace {

using herald::config::Overrides;

// Flags that override configuration keys: serve's, plus --config.
struct ServeFlags {
  std::string config_file;
  Overrides overrides;
};

void addOverride(CLI::App* cmd, Overrides* o, const std::string& flag, const std::string& key,
                 const std::string& help) {
  cmd->add_option_function<std::string>(
      flag, [o, key](const std::string& v) { o->values[key] = v; }, help);
}

herald::config::Config loadOrExit(const std::string& file, const Overrides& overrides) {
  try {
    return herald::config::load(file, environ, overrides);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "herald: configuration error: %s\n", e.what());
    std::exit(2);
  }
}

int64_t unixNow() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

std::vector<std::string> splitList(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    std::string item = s.substr(start, comma - start);
    if (!item.empty()) out.push_back(item);
    start = comma + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"Herald: a real-time messaging server"};
  app.require_subcommand(1);

  // serve
  ServeFlags serve;
  CLI::App* serve_cmd = app.add_subcommand("serve", "Run the server");
  serve_cmd->add_option("--config", serve.config_file, "TOML configuration file");
  addOverride(serve_cmd, &serve.overrides, "--port", "server.port", "Port to listen on");
  addOverride(serve_cmd, &serve.overrides, "--address", "server.address", "Address to listen on");
  addOverride(serve_cmd, &serve.overrides, "--workers", "server.workers", "Worker threads (0 = cores)");
  addOverride(serve_cmd, &serve.overrides, "--api-key", "api.key", "Server API key");
  addOverride(serve_cmd, &serve.overrides, "--hmac-secret", "auth.hmac_secret", "HMAC secret for HS* tokens");
  addOverride(serve_cmd, &serve.overrides, "--log-level", "log.level", "debug|info|warn|error");
  addOverride(serve_cmd, &serve.overrides, "--log-format", "log.format", "text|json");
  serve_cmd->add_flag_callback("--echo", [&] { serve.overrides.values["testing.echo"] = "true"; },
                               "Serve a WebSocket echo endpoint at /echo (conformance tests)");

  // genconfig
  CLI::App* genconfig_cmd = app.add_subcommand("genconfig", "Print the default configuration");

  // gentoken
  std::string user, channels, publish, secret, token_config;
  int64_t ttl = 3600;
  CLI::App* gentoken_cmd = app.add_subcommand("gentoken", "Make an HS256 connection token");
  gentoken_cmd->add_option("--user", user, "User id (sub)")->required();
  gentoken_cmd->add_option("--channels", channels, "Channels or patterns to subscribe, comma-separated");
  gentoken_cmd->add_option("--publish", publish, "Channels or patterns to publish to, comma-separated");
  gentoken_cmd->add_option("--ttl", ttl, "Lifetime in seconds (0 = no expiry)")->capture_default_str();
  auto* secret_opt = gentoken_cmd->add_option("--secret", secret, "HMAC secret");
  gentoken_cmd->add_option("--config", token_config, "Take the secret from this config")->excludes(secret_opt);

  // checktoken
  std::string token, check_secret, check_config;
  CLI::App* checktoken_cmd = app.add_subcommand("checktoken", "Verify a token and print its claims");
  checktoken_cmd->add_option("token", token, "The JWT")->required();
  auto* check_secret_opt = checktoken_cmd->add_option("--secret", check_secret, "HMAC secret");
  checktoken_cmd->add_option("--config", check_config, "Verify with this config's [auth] keys")
      ->excludes(check_secret_opt);

  CLI::App* version_cmd = app.add_subcommand("version", "Print the version");

  CLI11_PARSE(app, argc, argv);

  if (version_cmd->parsed()) {
    std::printf("herald %s\n", HERALD_VERSION);
    return 0;
  }
  if (genconfig_cmd->parsed()) {
    std::fputs(herald::config::defaultToml().c_str(), stdout);
    return 0;
  }
  if (gentoken_cmd->parsed()) {
    if (secret.empty()) {
      Overrides none;
      secret = loadOrExit(token_config, none).auth.hmac_secret;
    }
    if (secret.empty()) {
      std::fprintf(stderr, "herald: gentoken needs --secret or a config with [auth] hmac_secret\n");
      return 2;
    }
    herald::auth::Claims claims;
    claims.sub = user;
    claims.iat = unixNow();
    if (ttl > 0) claims.exp = unixNow() + ttl;
    claims.channels = splitList(channels);
    claims.publish = splitList(publish);
    std::printf("%s\n", herald::auth::signHs256(secret, claims).c_str());
    return 0;
  }
  if (checktoken_cmd->parsed()) {
    // With a config, exactly the server's rules: its keys (files, JWKS URL),
    // audience, issuer, leeway and size limit.
    // With --secret, that secret and the defaults, whatever the environment.
    herald::config::Config cfg;
    if (check_secret.empty()) {
      Overrides none;
      cfg = loadOrExit(check_config, none);
    } else {
      cfg.auth.hmac_secret = check_secret;
    }
    std::shared_ptr<const herald::auth::Verifier> verifier;
    try {
      verifier = herald::server::makeVerifier(herald::server::verifierConfig(cfg.auth));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "herald: %s\n", e.what());
      return 2;
    }
    if (!verifier) {
      std::fprintf(stderr, "herald: no key configured ([auth] or --secret)\n");
      return 2;
    }
    herald::auth::Claims claims;
    auto err = verifier->verify(token, unixNow(), &claims);
    if (err != herald::auth::TokenError::kNone) {
      std::fprintf(stderr, "invalid token: %s\n", std::string(herald::auth::tokenErrorMessage(err)).c_str());
      return 1;
    }
    std::printf("valid: %s\n", herald::auth::claimsToJson(claims).c_str());
    return 0;
  }

  herald::config::Config config = loadOrExit(serve.config_file, serve.overrides);
  try {
    herald::log::init(config.log.level, config.log.format);
    herald::server::Server server(config);
    return server.run();
  } catch (const std::exception& e) {
    spdlog::error("cannot start: {}", e.what());
    return 1;
  }
}
