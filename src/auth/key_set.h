// The keys a Verifier checks JWS signatures with (RFC 7515/7518/8037): an
// HMAC secret, a PEM public key and the keys of a JWKS, each parsed once into
// OpenSSL 3 objects. Immutable after create(); verify() may be called from
// many threads at once. A KeySet owns its OpenSSL objects. Used by jwt.cc;
// callers outside auth/ use Verifier.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/jwt.h"

namespace herald::auth {

enum class Alg : uint8_t {
  kHs256, kHs384, kHs512, kRs256, kRs384, kRs512, kEs256, kEs384, kEdDsa,
};

// The JWS "alg" value -> Alg (case-sensitive); nullopt for anything else,
// "none" included.
std::optional<Alg> algFromName(std::string_view name);

class KeySet {
 public:
  // Empty arguments mean "not configured". Returns nullptr and sets *error
  // on an invalid or unsupported key. JWKS entries with "use" other than
  // "sig", or an unknown kty, crv or alg, are skipped; a JWKS left with no
  // usable key is an error.
  static std::unique_ptr<KeySet> create(std::string_view hmac_secret,
                                        std::string_view public_key_pem,
                                        std::string_view jwks_json,
                                        std::string* error);
  ~KeySet();
  KeySet(const KeySet&) = delete;
  KeySet& operator=(const KeySet&) = delete;

  // Selects the key for (alg, kid) as described on Verifier and checks
  // `signature` (already base64url-decoded) over `signing_input`. Returns
  // kNone, kNoKey, kUnknownKid, kAlgKeyMismatch or kBadSignature.
  TokenError verify(Alg alg, std::optional<std::string_view> kid,
                    std::string_view signing_input,
                    std::string_view signature) const noexcept;

  bool empty() const { return static_keys_.empty() && jwks_keys_.empty(); }

  struct Key;  // defined in key_set.cc

 private:
  KeySet();
  TokenError check(const Key& key, Alg alg, std::string_view signing_input,
                   std::string_view signature) const noexcept;

  std::vector<std::unique_ptr<Key>> static_keys_;  // HMAC secret, PEM key
  std::vector<std::unique_ptr<Key>> jwks_keys_;
};

}  // namespace herald::auth
