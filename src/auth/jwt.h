// JSON Web Tokens (RFC 7519, compact JWS only) for connection and
// subscription tokens. A Verifier is built once from the [auth] settings
// (keys are parsed into OpenSSL objects then) and is immutable afterwards:
// share one instance by const reference or shared_ptr across every worker;
// verify() is thread-safe and never throws. The Verifier owns its keys;
// Claims are plain values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald::auth {

// The claims Herald reads. Unknown claims are ignored.
struct Claims {
  std::string sub;                    // user id; empty = anonymous
  std::optional<int64_t> exp;         // seconds since the Unix epoch
  std::optional<int64_t> nbf;
  std::optional<int64_t> iat;
  std::vector<std::string> aud;       // "aud" as a string or an array
  std::string iss;
  std::vector<std::string> channels;  // names or globs the user may subscribe to
  std::vector<std::string> publish;   // names or globs the user may publish to
  std::string info_json;              // "info" re-serialized, minified; empty if absent
  std::string channel;                // subscription tokens: the channel granted
};

// Why a token was refused. verify() checks in this order: size, structure,
// algorithm, key, signature, then (only for an authentic token) claims.
enum class TokenError : uint8_t {
  kNone,
  kMalformed,        // not three base64url segments of JSON objects, a claim
                     // of the wrong type, a duplicated claim, or a "crit" header
  kUnsupportedAlg,   // "none" or an algorithm Herald does not implement
  kAlgKeyMismatch,   // the key that would be used is of another family or
                     // curve than "alg" (e.g. HS256 against an RSA key)
  kUnknownKid,       // "kid" not in the JWKS, or no "kid" and several JWKS keys
  kBadSignature,
  kExpired,          // now >= exp + leeway
  kNotYetValid,      // now + leeway < nbf
  kBadAudience,      // an audience is configured and "aud" does not contain it
  kBadIssuer,        // an issuer is configured and "iss" differs
  kTooLarge,         // over max_token_bytes; refused before any decoding
  kNoKey,            // the verifier has no key at all
};

// A short, static, human-readable reason ("token expired", ...).
std::string_view tokenErrorMessage(TokenError error);

struct VerifierConfig {
  std::string hmac_secret;     // HS256/384/512 secret; empty = none
  std::string public_key_pem;  // PEM text ("PUBLIC KEY" or "RSA PUBLIC KEY"):
                               // RSA >= 2048 bits, EC P-256/P-384, Ed25519
  std::string jwks_json;       // JWKS text: RSA, EC P-256/P-384, OKP Ed25519, oct
  std::string audience;        // when set, "aud" must contain it
  std::string issuer;          // when set, "iss" must equal it
  // Clock skew tolerated on exp and nbf. 0 by default: the issuer chooses
  // the lifetime and Herald enforces exactly that; raise it only if the
  // token issuer's clock is known to drift.
  int64_t leeway_seconds = 0;
  size_t max_token_bytes = 8 * 1024;  // longer tokens are refused unread
};

// Checks token signatures and claims against fixed keys and rules.
//
// Key selection, so a token can never pick its own key type:
//  - the token has a "kid" and a JWKS is configured: the JWKS keys with that
//    kid, else kUnknownKid;
//  - otherwise: the HMAC secret for HS*, the PEM key for the others, or the
//    JWKS key when the JWKS holds exactly one;
//  - the chosen key must match "alg" (HS*: secret or oct; RS*: RSA; ES256:
//    P-256; ES384: P-384; EdDSA: Ed25519; a JWK's own "alg" must equal the
//    token's), else kAlgKeyMismatch.
// Header parameters that name keys (jku, jwk, x5u, x5c) are ignored.
// exp and nbf are optional (no exp = no expiry); iat is read, not checked.
class Verifier {
 public:
  // Parses the keys. Returns nullptr and sets *error (naming the bad key)
  // when a key is invalid, too weak or of an unsupported type. A config
  // with no key at all is valid: every token then gets kNoKey.
  static std::unique_ptr<Verifier> create(const VerifierConfig& config,
                                          std::string* error);
  ~Verifier();
  Verifier(const Verifier&) = delete;
  Verifier& operator=(const Verifier&) = delete;

  // Verifies `token` at time `now` (seconds since the Unix epoch). *out is
  // cleared first; it holds the claims on kNone, and also on kExpired,
  // kNotYetValid, kBadAudience and kBadIssuer (the token is authentic, and
  // the caller may log who sent it).
  TokenError verify(std::string_view token, int64_t now, Claims* out) const noexcept;

  // True when at least one key is configured.
  bool hasKeys() const;

 private:
  struct Impl;
  explicit Verifier(std::unique_ptr<const Impl> impl);
  std::unique_ptr<const Impl> impl_;
};

// The claims as a JSON object: "sub" always, every other claim when set
// (one audience as a string, several as an array); info_json is inserted as
// is and must be valid JSON.
std::string claimsToJson(const Claims& claims);

// An HS256 token for `claims` (herald gentoken, tests). Throws
// std::invalid_argument when `secret` is empty.
std::string signHs256(std::string_view secret, const Claims& claims);

}  // namespace herald::auth
