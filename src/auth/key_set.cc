#include "auth/key_set.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <array>
#include <simdjson.h>

#include "auth/base64url.h"

namespace herald::auth {
namespace {

// RFC 7518 §3.3: RSA keys for RS* must be at least 2048 bits.
constexpr int kMinRsaBits = 2048;

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct MacFree {
  void operator()(EVP_MAC* p) const { EVP_MAC_free(p); }
};
struct MacCtxFree {
  void operator()(EVP_MAC_CTX* p) const { EVP_MAC_CTX_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct DecoderCtxFree {
  void operator()(OSSL_DECODER_CTX* p) const { OSSL_DECODER_CTX_free(p); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};

using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MacCtxPtr = std::unique_ptr<EVP_MAC_CTX, MacCtxFree>;
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;

enum class KeyType : uint8_t { kHmac, kRsa, kP256, kP384, kEd25519 };

KeyType keyTypeFor(Alg alg) {
  switch (alg) {
    case Alg::kHs256: case Alg::kHs384: case Alg::kHs512: return KeyType::kHmac;
    case Alg::kRs256: case Alg::kRs384: case Alg::kRs512: return KeyType::kRsa;
    case Alg::kEs256: return KeyType::kP256;
    case Alg::kEs384: return KeyType::kP384;
    case Alg::kEdDsa: return KeyType::kEd25519;
  }
  return KeyType::kHmac;
}

// Digest name for OpenSSL; nullptr for EdDSA (Ed25519 hashes internally).
const char* digestFor(Alg alg) {
  switch (alg) {
    case Alg::kHs256: case Alg::kRs256: case Alg::kEs256: return "SHA256";
    case Alg::kHs384: case Alg::kRs384: case Alg::kEs384: return "SHA384";
    case Alg::kHs512: case Alg::kRs512: return "SHA512";
    case Alg::kEdDsa: return nullptr;
  }
  return nullptr;
}

// Byte length of each of r and s in an ES* signature (RFC 7518 §3.4).
size_t ecScalarBytes(Alg alg) { return alg == Alg::kEs256 ? 32 : 48; }

// OpenSSL keeps errors in a per-thread queue; leaving them there would
// confuse the next TLS call on this worker.
void clearOpensslErrors() { ERR_clear_error(); }

std::string opensslError() {
  unsigned long code = ERR_get_error();
  clearOpensslErrors();
  if (code == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

}  // namespace

struct KeySet::Key {
  KeyType type = KeyType::kHmac;
  std::optional<std::string> kid;
  std::optional<Alg> alg;           // the JWK's own "alg", if it names one
  PkeyPtr pkey;                     // RSA, EC and Ed25519 keys
  std::array<MacCtxPtr, 3> hmac;    // keyed HMAC-SHA256/384/512, cloned per use
};

namespace {

using Key = KeySet::Key;

std::unique_ptr<Key> makeHmacKey(std::string_view secret, std::string* error) {
  if (secret.empty()) {
    *error = "empty HMAC secret";
    return nullptr;
  }
  std::unique_ptr<EVP_MAC, MacFree> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (!mac) {
    *error = "HMAC unavailable: " + opensslError();
    return nullptr;
  }
  auto key = std::make_unique<Key>();
  key->type = KeyType::kHmac;
  static constexpr const char* kDigests[3] = {"SHA256", "SHA384", "SHA512"};
  for (size_t i = 0; i < 3; ++i) {
    MacCtxPtr ctx(EVP_MAC_CTX_new(mac.get()));
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                         const_cast<char*>(kDigests[i]), 0),
        OSSL_PARAM_construct_end()};
    if (!ctx || EVP_MAC_init(ctx.get(), reinterpret_cast<const unsigned char*>(secret.data()),
                             secret.size(), params) != 1) {
      *error = "cannot key HMAC: " + opensslError();
      return nullptr;
    }
    key->hmac[i] = std::move(ctx);
  }
  return key;
}

// Checks a public key OpenSSL built (on the curve, sane RSA parameters) and
// classifies it.
std::unique_ptr<Key> makePkeyKey(PkeyPtr pkey, std::string* error) {
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(
      EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (!ctx || EVP_PKEY_public_check(ctx.get()) != 1) {
    *error = "invalid public key: " + opensslError();
    return nullptr;
  }
  auto key = std::make_unique<Key>();
  if (EVP_PKEY_is_a(pkey.get(), "RSA")) {
    if (EVP_PKEY_get_bits(pkey.get()) < kMinRsaBits) {
      *error = "RSA key shorter than 2048 bits";
      return nullptr;
    }
    key->type = KeyType::kRsa;
  } else if (EVP_PKEY_is_a(pkey.get(), "EC")) {
    char group[64];
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey.get(), OSSL_PKEY_PARAM_GROUP_NAME, group,
                                       sizeof group, &len) != 1) {
      *error = "EC key without a named curve";
      clearOpensslErrors();
      return nullptr;
    }
    int nid = OBJ_txt2nid(group);
    if (nid == NID_X9_62_prime256v1) {
      key->type = KeyType::kP256;
    } else if (nid == NID_secp384r1) {
      key->type = KeyType::kP384;
    } else {
      *error = std::string("unsupported EC curve ") + group + " (P-256 or P-384)";
      return nullptr;
    }
  } else if (EVP_PKEY_is_a(pkey.get(), "ED25519")) {
    key->type = KeyType::kEd25519;
  } else {
    *error = "unsupported key type (RSA, EC P-256/P-384 or Ed25519)";
    return nullptr;
  }
  key->pkey = std::move(pkey);
  return key;
}

std::unique_ptr<Key> loadPem(std::string_view pem, std::string* error) {
  EVP_PKEY* raw = nullptr;
  std::unique_ptr<OSSL_DECODER_CTX, DecoderCtxFree> dctx(OSSL_DECODER_CTX_new_for_pkey(
      &raw, "PEM", nullptr, nullptr, EVP_PKEY_PUBLIC_KEY, nullptr, nullptr));
  auto* data = reinterpret_cast<const unsigned char*>(pem.data());
  size_t len = pem.size();
  if (!dctx || OSSL_DECODER_from_data(dctx.get(), &data, &len) != 1 || raw == nullptr) {
    clearOpensslErrors();
    *error = "public key: not a PEM public key";
    return nullptr;
  }
  auto key = makePkeyKey(PkeyPtr(raw), error);
  if (!key) *error = "public key: " + *error;
  return key;
}

// A JWK string member decoded from base64url; false if absent or invalid.
bool jwkBytes(simdjson::dom::object jwk, std::string_view name, std::string* out) {
  std::string_view text;
  if (jwk[name].get_string().get(text) != simdjson::SUCCESS) return false;
  return base64UrlDecode(text, out) && !out->empty();
}

PkeyPtr pkeyFromParams(const char* type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld));
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return nullptr;
  }
  return PkeyPtr(raw);
}

PkeyPtr rsaFromJwk(simdjson::dom::object jwk, std::string* error) {
  std::string n, e;
  if (!jwkBytes(jwk, "n", &n) || !jwkBytes(jwk, "e", &e)) {
    *error = "RSA key needs base64url \"n\" and \"e\"";
    return nullptr;
  }
  BnPtr bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()),
                       static_cast<int>(n.size()), nullptr));
  BnPtr bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()),
                       static_cast<int>(e.size()), nullptr));
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  PkeyPtr pkey;
  if (bn_n && bn_e && bld &&
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) == 1 &&
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) == 1) {
    pkey = pkeyFromParams("RSA", bld.get());
  }
  if (!pkey) *error = "cannot build RSA key: " + opensslError();
  return pkey;
}

PkeyPtr ecFromJwk(simdjson::dom::object jwk, std::string_view crv, std::string* error) {
  const bool p256 = crv == "P-256";
  const size_t len = p256 ? 32 : 48;
  std::string x, y;
  if (!jwkBytes(jwk, "x", &x) || !jwkBytes(jwk, "y", &y) || x.size() != len ||
      y.size() != len) {
    *error = "EC key needs base64url \"x\" and \"y\" of " + std::to_string(len) + " bytes";
    return nullptr;
  }
  std::string point = "\x04" + x + y;  // SEC 1 uncompressed point
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  PkeyPtr pkey;
  if (bld &&
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME,
                                      p256 ? "P-256" : "P-384", 0) == 1 &&
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) == 1) {
    pkey = pkeyFromParams("EC", bld.get());
  }
  if (!pkey) *error = "cannot build EC key: " + opensslError();
  return pkey;
}

PkeyPtr ed25519FromJwk(simdjson::dom::object jwk, std::string* error) {
  std::string x;
  if (!jwkBytes(jwk, "x", &x) || x.size() != 32) {
    *error = "Ed25519 key needs base64url \"x\" of 32 bytes";
    return nullptr;
  }
  PkeyPtr pkey(EVP_PKEY_new_raw_public_key_ex(
      nullptr, "ED25519", nullptr, reinterpret_cast<const unsigned char*>(x.data()),
      x.size()));
  if (!pkey) *error = "cannot build Ed25519 key: " + opensslError();
  return pkey;
}

// One JWK. Returns false on an error; *key stays null for a key that is
// skipped on purpose (not for signatures, or a type Herald does not use).
bool loadJwk(simdjson::dom::element element, std::unique_ptr<Key>* key,
             std::string* error) {
  simdjson::dom::object jwk;
  std::string_view kty;
  if (element.get_object().get(jwk) != simdjson::SUCCESS ||
      jwk["kty"].get_string().get(kty) != simdjson::SUCCESS) {
    *error = "a key is not an object with a string \"kty\"";
    return false;
  }
  std::optional<std::string> kid;
  if (auto field = jwk["kid"]; field.error() != simdjson::NO_SUCH_FIELD) {
    std::string_view text;
    if (field.get_string().get(text) != simdjson::SUCCESS) {
      *error = "\"kid\" is not a string";
      return false;
    }
    kid.emplace(text);
  }
  const std::string name = kid ? "key \"" + *kid + "\": " : "key without kid: ";
  std::string_view use;
  if (jwk["use"].get_string().get(use) == simdjson::SUCCESS && use != "sig") return true;
  std::optional<Alg> alg;
  if (auto field = jwk["alg"]; field.error() != simdjson::NO_SUCH_FIELD) {
    std::string_view text;
    if (field.get_string().get(text) != simdjson::SUCCESS) {
      *error = name + "\"alg\" is not a string";
      return false;
    }
    alg = algFromName(text);
    if (!alg) return true;  // e.g. PS256 or RSA-OAEP: not for us
  }

  std::string crv;
  if (std::string_view text; jwk["crv"].get_string().get(text) == simdjson::SUCCESS) {
    crv = text;
  }
  std::unique_ptr<Key> made;
  PkeyPtr pkey;
  if (kty == "oct") {
    std::string k;
    if (!jwkBytes(jwk, "k", &k)) {
      *error = name + "oct key needs a non-empty base64url \"k\"";
      return false;
    }
    made = makeHmacKey(k, error);
    OPENSSL_cleanse(k.data(), k.size());
  } else if (kty == "RSA") {
    pkey = rsaFromJwk(jwk, error);
    if (!pkey) {
      *error = name + *error;
      return false;
    }
  } else if (kty == "EC") {
    if (crv != "P-256" && crv != "P-384") return true;
    pkey = ecFromJwk(jwk, crv, error);
    if (!pkey) {
      *error = name + *error;
      return false;
    }
  } else if (kty == "OKP") {
    if (crv != "Ed25519") return true;
    pkey = ed25519FromJwk(jwk, error);
    if (!pkey) {
      *error = name + *error;
      return false;
    }
  } else {
    return true;
  }
  if (pkey) made = makePkeyKey(std::move(pkey), error);
  if (!made) {
    *error = name + *error;
    return false;
  }
  if (alg && keyTypeFor(*alg) != made->type) {
    *error = name + "\"alg\" does not match the key type";
    return false;
  }
  made->kid = std::move(kid);
  made->alg = alg;
  *key = std::move(made);
  return true;
}

bool loadJwks(std::string_view text, std::vector<std::unique_ptr<Key>>* keys,
              std::string* error) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(text.data(), text.size()).get(root) != simdjson::SUCCESS) {
    *error = "JWKS: invalid JSON";
    return false;
  }
  // A JWK Set ({"keys":[...]}) or, for convenience, a single JWK.
  simdjson::dom::array list;
  bool single = root["kty"].error() == simdjson::SUCCESS;
  if (!single && root["keys"].get_array().get(list) != simdjson::SUCCESS) {
    *error = "JWKS: expected an object with a \"keys\" array";
    return false;
  }
  auto add = [&](simdjson::dom::element element) {
    std::unique_ptr<Key> key;
    if (!loadJwk(element, &key, error)) {
      *error = "JWKS: " + *error;
      return false;
    }
    if (key) keys->push_back(std::move(key));
    return true;
  };
  if (single) {
    if (!add(root)) return false;
  } else {
    for (simdjson::dom::element element : list) {
      if (!add(element)) return false;
    }
  }
  if (keys->empty()) {
    *error = "JWKS: no usable signature key (RSA, EC P-256/P-384, Ed25519 or oct)";
    return false;
  }
  return true;
}

bool verifyHmac(const Key& key, Alg alg, std::string_view input, std::string_view sig) {
  size_t index = alg == Alg::kHs256 ? 0 : alg == Alg::kHs384 ? 1 : 2;
  MacCtxPtr ctx(EVP_MAC_CTX_dup(key.hmac[index].get()));
  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t mac_len = 0;
  if (!ctx ||
      EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1 ||
      EVP_MAC_final(ctx.get(), mac, &mac_len, sizeof mac) != 1) {
    return false;
  }
  // The length is public; the bytes are compared in constant time.
  return sig.size() == mac_len && CRYPTO_memcmp(mac, sig.data(), mac_len) == 0;
}

// ES* signatures are r||s, fixed width (RFC 7518 §3.4); OpenSSL wants DER.
// Returns the DER length written to der[kMaxEcdsaDer], or 0.
constexpr size_t kMaxEcdsaDer = 128;  // P-384: 2 + 2 * (2 + 49) = 104

size_t ecdsaRawToDer(Alg alg, std::string_view sig, unsigned char* der) {
  const size_t n = ecScalarBytes(alg);
  if (sig.size() != 2 * n) return 0;
  const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
  std::unique_ptr<ECDSA_SIG, EcdsaSigFree> ecdsa(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(p, static_cast<int>(n), nullptr);
  BIGNUM* s = BN_bin2bn(p + n, static_cast<int>(n), nullptr);
  if (!ecdsa || !r || !s || ECDSA_SIG_set0(ecdsa.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return 0;
  }
  int len = i2d_ECDSA_SIG(ecdsa.get(), nullptr);
  if (len <= 0 || static_cast<size_t>(len) > kMaxEcdsaDer) return 0;
  return static_cast<size_t>(i2d_ECDSA_SIG(ecdsa.get(), &der));
}

bool verifyPkey(const Key& key, Alg alg, std::string_view input, std::string_view sig) {
  unsigned char der[kMaxEcdsaDer];
  if (key.type == KeyType::kP256 || key.type == KeyType::kP384) {
    size_t len = ecdsaRawToDer(alg, sig, der);
    if (len == 0) return false;
    sig = std::string_view(reinterpret_cast<const char*>(der), len);
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  if (!ctx || EVP_DigestVerifyInit_ex(ctx.get(), &pctx, digestFor(alg), nullptr, nullptr,
                                      key.pkey.get(), nullptr) != 1) {
    return false;
  }
  if (key.type == KeyType::kRsa &&
      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()),
                          sig.size(),
                          reinterpret_cast<const unsigned char*>(input.data()),
                          input.size()) == 1;
}

bool fits(const Key& key, Alg alg) {
  return key.type == keyTypeFor(alg) && (!key.alg || *key.alg == alg);
}

}  // namespace

std::optional<Alg> algFromName(std::string_view name) {
  static constexpr std::pair<std::string_view, Alg> kNames[] = {
      {"HS256", Alg::kHs256}, {"HS384", Alg::kHs384}, {"HS512", Alg::kHs512},
      {"RS256", Alg::kRs256}, {"RS384", Alg::kRs384}, {"RS512", Alg::kRs512},
      {"ES256", Alg::kEs256}, {"ES384", Alg::kEs384}, {"EdDSA", Alg::kEdDsa},
  };
  for (const auto& [text, alg] : kNames) {
    if (text == name) return alg;
  }
  return std::nullopt;
}

KeySet::KeySet() = default;
KeySet::~KeySet() = default;

std::unique_ptr<KeySet> KeySet::create(std::string_view hmac_secret,
                                       std::string_view public_key_pem,
                                       std::string_view jwks_json, std::string* error) {
  std::unique_ptr<KeySet> set(new KeySet());
  if (!hmac_secret.empty()) {
    auto key = makeHmacKey(hmac_secret, error);
    if (!key) {
      *error = "hmac secret: " + *error;
      return nullptr;
    }
    set->static_keys_.push_back(std::move(key));
  }
  if (!public_key_pem.empty()) {
    auto key = loadPem(public_key_pem, error);
    if (!key) return nullptr;
    set->static_keys_.push_back(std::move(key));
  }
  if (!jwks_json.empty() && !loadJwks(jwks_json, &set->jwks_keys_, error)) {
    return nullptr;
  }
  return set;
}

TokenError KeySet::verify(Alg alg, std::optional<std::string_view> kid,
                          std::string_view signing_input,
                          std::string_view signature) const noexcept {
  if (kid && !jwks_keys_.empty()) {
    bool known = false;
    for (const auto& key : jwks_keys_) {
      if (key->kid != *kid) continue;
      known = true;
      if (fits(*key, alg)) return check(*key, alg, signing_input, signature);
    }
    return known ? TokenError::kAlgKeyMismatch : TokenError::kUnknownKid;
  }
  for (const auto& key : static_keys_) {
    if (fits(*key, alg)) return check(*key, alg, signing_input, signature);
  }
  if (jwks_keys_.size() == 1) {
    const Key& key = *jwks_keys_.front();
    return fits(key, alg) ? check(key, alg, signing_input, signature)
                          : TokenError::kAlgKeyMismatch;
  }
  if (jwks_keys_.size() > 1) return TokenError::kUnknownKid;
  return static_keys_.empty() ? TokenError::kNoKey : TokenError::kAlgKeyMismatch;
}

TokenError KeySet::check(const Key& key, Alg alg, std::string_view signing_input,
                         std::string_view signature) const noexcept {
  bool ok = key.type == KeyType::kHmac ? verifyHmac(key, alg, signing_input, signature)
                                       : verifyPkey(key, alg, signing_input, signature);
  if (!ok) clearOpensslErrors();
  return ok ? TokenError::kNone : TokenError::kBadSignature;
}

}  // namespace herald::auth
