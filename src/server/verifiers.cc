#include "server/verifiers.h"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "http/fetch.h"

namespace herald::server {
namespace {

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

auth::VerifierConfig verifierConfig(const config::Auth& a) {
  auth::VerifierConfig vc;
  vc.hmac_secret = a.hmac_secret;
  if (!a.public_key_file.empty()) vc.public_key_pem = readFile(a.public_key_file);
  if (!a.jwks_file.empty()) vc.jwks_json = readFile(a.jwks_file);
  if (!a.jwks_url.empty()) {
    http::FetchResult r = http::fetchUrl(a.jwks_url, kJwksFetchTimeout, kMaxJwksBytes);
    if (!r.ok) throw std::runtime_error("[auth] jwks_url " + a.jwks_url + ": " + r.error);
    vc.jwks_json = std::move(r.body);
  }
  vc.audience = a.audience;
  vc.issuer = a.issuer;
  vc.leeway_seconds = a.leeway;
  vc.max_token_bytes = a.max_token_bytes;
  return vc;
}

std::shared_ptr<const auth::Verifier> makeVerifier(const auth::VerifierConfig& vc) {
  if (vc.hmac_secret.empty() && vc.public_key_pem.empty() && vc.jwks_json.empty()) return nullptr;
  std::string error;
  auto verifier = auth::Verifier::create(vc, &error);
  if (!verifier) throw std::runtime_error("[auth]: " + error);
  return verifier;
}

}  // namespace herald::server
