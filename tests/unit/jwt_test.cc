// Tests for auth/base64url and auth/jwt. Keys are generated here with
// OpenSSL and tokens are signed here with OpenSSL directly, so a bug shared by
// the signer and the verifier cannot hide itself.
#include "auth/jwt.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "auth/base64url.h"

namespace herald::auth {
namespace {

constexpr int64_t kNow = 1'700'000'000;

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// --- Test-side encoding and signing, built on OpenSSL only -----------------

std::string b64(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

std::string bnBytes(EVP_PKEY* pkey, const char* param, int pad = 0) {
  BIGNUM* bn = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(pkey, param, &bn), 1);
  std::string out(pad ? pad : BN_num_bytes(bn), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size()));
  BN_free(bn);
  return out;
}

std::string pemOf(EVP_PKEY* pkey) {
  BIO* bio = BIO_new(BIO_s_mem());
  EXPECT_EQ(PEM_write_bio_PUBKEY(bio, pkey), 1);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  return pem;
}

// A JWK for a public key; `extra` is appended inside the object.
std::string jwkOf(EVP_PKEY* pkey, std::string_view kid, std::string_view extra = "") {
  std::string jwk = "{";
  if (!kid.empty()) jwk += "\"kid\":\"" + std::string(kid) + "\",";
  if (EVP_PKEY_is_a(pkey, "RSA")) {
    jwk += "\"kty\":\"RSA\",\"n\":\"" + b64(bnBytes(pkey, OSSL_PKEY_PARAM_RSA_N)) +
           "\",\"e\":\"" + b64(bnBytes(pkey, OSSL_PKEY_PARAM_RSA_E)) + "\"";
  } else if (EVP_PKEY_is_a(pkey, "EC")) {
    int bytes = EVP_PKEY_get_bits(pkey) / 8;
    jwk += std::string("\"kty\":\"EC\",\"crv\":\"") + (bytes == 32 ? "P-256" : "P-384") +
           "\",\"x\":\"" + b64(bnBytes(pkey, OSSL_PKEY_PARAM_EC_PUB_X, bytes)) +
           "\",\"y\":\"" + b64(bnBytes(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, bytes)) + "\"";
  } else {
    unsigned char raw[32];
    size_t len = sizeof raw;
    EXPECT_EQ(EVP_PKEY_get_raw_public_key(pkey, raw, &len), 1);
    jwk += "\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" +
           b64(std::string_view(reinterpret_cast<char*>(raw), len)) + "\"";
  }
  return jwk + std::string(extra) + "}";
}

const char* digestOf(std::string_view alg) {
  if (alg.ends_with("256")) return "SHA256";
  if (alg.ends_with("384")) return "SHA384";
  if (alg.ends_with("512")) return "SHA512";
  return nullptr;  // EdDSA
}

// Signs `input` as JWS `alg` would: HMAC with `secret`, or `pkey`.
std::string signRaw(std::string_view alg, EVP_PKEY* pkey, std::string_view secret,
                    std::string_view input) {
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  if (alg.starts_with("HS")) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t len = 0;
    EXPECT_NE(EVP_Q_mac(nullptr, "HMAC", nullptr, digestOf(alg), nullptr, secret.data(),
                        secret.size(), data, input.size(), mac, sizeof mac, &len),
              nullptr);
    return std::string(reinterpret_cast<char*>(mac), len);
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EXPECT_EQ(EVP_DigestSignInit_ex(ctx, nullptr, digestOf(alg), nullptr, nullptr, pkey,
                                  nullptr),
            1);
  size_t len = 0;
  EXPECT_EQ(EVP_DigestSign(ctx, nullptr, &len, data, input.size()), 1);
  std::string sig(len, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len, data,
                           input.size()),
            1);
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  if (alg.starts_with("ES")) {  // DER -> r||s
    const size_t n = alg == "ES256" ? 32 : 48;
    const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* ecdsa = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    EXPECT_NE(ecdsa, nullptr);
    std::string raw(2 * n, '\0');
    auto* out = reinterpret_cast<unsigned char*>(raw.data());
    BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa), out, static_cast<int>(n));
    BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa), out + n, static_cast<int>(n));
    ECDSA_SIG_free(ecdsa);
    return raw;
  }
  return sig;
}

std::string makeToken(std::string_view header_json, std::string_view payload_json,
                      std::string_view alg, EVP_PKEY* pkey, std::string_view secret = "") {
  std::string input = b64(header_json) + "." + b64(payload_json);
  return input + "." + b64(signRaw(alg, pkey, secret, input));
}

std::string headerFor(std::string_view alg, std::string_view kid = "") {
  std::string h = "{\"alg\":\"" + std::string(alg) + "\"";
  if (!kid.empty()) h += ",\"kid\":\"" + std::string(kid) + "\"";
  return h + ",\"typ\":\"JWT\"}";
}

const std::string kPayload = R"({"sub":"42","exp":1700003600})";
const std::string kSecret = "a-test-secret-that-is-long-enough-for-hs512!!";

// --- Fixture: keys generated once --------------------------------------------

class JwtTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
    rsa_other_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
    p256_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    p384_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
    ed_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    ASSERT_TRUE(rsa_ && rsa_other_ && p256_ && p384_ && ed_);
  }
  static void TearDownTestSuite() {
    for (EVP_PKEY* k : {rsa_, rsa_other_, p256_, p384_, ed_}) EVP_PKEY_free(k);
  }

  static std::unique_ptr<Verifier> make(const VerifierConfig& config) {
    std::string error;
    auto v = Verifier::create(config, &error);
    EXPECT_NE(v, nullptr) << error;
    return v;
  }
  static std::unique_ptr<Verifier> withPem(EVP_PKEY* pkey) {
    VerifierConfig c;
    c.public_key_pem = pemOf(pkey);
    return make(c);
  }
  static std::unique_ptr<Verifier> withSecret(int64_t leeway = 0) {
    VerifierConfig c;
    c.hmac_secret = kSecret;
    c.leeway_seconds = leeway;
    return make(c);
  }
  static std::string createError(const VerifierConfig& config) {
    std::string error;
    EXPECT_EQ(Verifier::create(config, &error), nullptr);
    return error;
  }
  static TokenError check(const Verifier& v, std::string_view token,
                          Claims* claims = nullptr) {
    Claims local;
    return v.verify(token, kNow, claims ? claims : &local);
  }
  static std::string hs256(std::string_view payload) {
    return makeToken(headerFor("HS256"), payload, "HS256", nullptr, kSecret);
  }

  static inline EVP_PKEY* rsa_ = nullptr;
  static inline EVP_PKEY* rsa_other_ = nullptr;
  static inline EVP_PKEY* p256_ = nullptr;
  static inline EVP_PKEY* p384_ = nullptr;
  static inline EVP_PKEY* ed_ = nullptr;
};

// --- base64url ----------------------------------------------------------------

TEST(Base64UrlTest, MatchesOpenSslAndRoundTrips) {
  std::string data;
  for (int len = 0; len < 70; ++len) {
    EXPECT_EQ(base64UrlEncode(data), b64(data)) << len;
    std::string back;
    ASSERT_TRUE(base64UrlDecode(b64(data), &back)) << len;
    EXPECT_EQ(back, data);
    data.push_back(static_cast<char>(len * 37 + 251));  // all byte values over time
  }
  std::string out;
  EXPECT_TRUE(base64UrlDecode("", &out));
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(base64UrlDecode("-_-_", &out));
  EXPECT_EQ(out, "\xfb\xff\xbf");
}

TEST(Base64UrlTest, RejectsNonCanonicalInput) {
  std::string out;
  for (const char* bad : {"QQ==", "QQ=", "+w", "/w", "QQ Q", "QQ\n", "Q", "QUJDR",
                          "QR", "QUJ", "a.b", "\x80\x80"}) {
    EXPECT_FALSE(base64UrlDecode(bad, &out)) << bad;
  }
  // The canonical spellings of "A" and "AB" (QR and QUJ above carry stray bits).
  EXPECT_TRUE(base64UrlDecode("QQ", &out));
  EXPECT_EQ(out, "A");
  EXPECT_TRUE(base64UrlDecode("QUI", &out));
  EXPECT_EQ(out, "AB");
}

// --- Every algorithm ----------------------------------------------------------

TEST_F(JwtTest, HmacAlgorithms) {
  auto v = withSecret();
  for (const char* alg : {"HS256", "HS384", "HS512"}) {
    Claims claims;
    EXPECT_EQ(check(*v, makeToken(headerFor(alg), kPayload, alg, nullptr, kSecret), &claims),
              TokenError::kNone)
        << alg;
    EXPECT_EQ(claims.sub, "42");
    EXPECT_EQ(claims.exp, 1700003600);
  }
}

TEST_F(JwtTest, RsaAlgorithms) {
  auto v = withPem(rsa_);
  for (const char* alg : {"RS256", "RS384", "RS512"}) {
    EXPECT_EQ(check(*v, makeToken(headerFor(alg), kPayload, alg, rsa_)), TokenError::kNone)
        << alg;
  }
}

TEST_F(JwtTest, EcdsaAndEdDsaAlgorithms) {
  EXPECT_EQ(check(*withPem(p256_), makeToken(headerFor("ES256"), kPayload, "ES256", p256_)),
            TokenError::kNone);
  EXPECT_EQ(check(*withPem(p384_), makeToken(headerFor("ES384"), kPayload, "ES384", p384_)),
            TokenError::kNone);
  EXPECT_EQ(check(*withPem(ed_), makeToken(headerFor("EdDSA"), kPayload, "EdDSA", ed_)),
            TokenError::kNone);
}

TEST_F(JwtTest, Pkcs1RsaPublicKeyPem) {
  OSSL_ENCODER_CTX* ectx = OSSL_ENCODER_CTX_new_for_pkey(rsa_, EVP_PKEY_PUBLIC_KEY, "PEM",
                                                         "type-specific", nullptr);
  unsigned char* data = nullptr;
  size_t len = 0;
  ASSERT_EQ(OSSL_ENCODER_to_data(ectx, &data, &len), 1);
  OSSL_ENCODER_CTX_free(ectx);
  VerifierConfig c;
  c.public_key_pem.assign(reinterpret_cast<char*>(data), len);
  OPENSSL_free(data);
  ASSERT_NE(c.public_key_pem.find("BEGIN RSA PUBLIC KEY"), std::string::npos);
  EXPECT_EQ(check(*make(c), makeToken(headerFor("RS256"), kPayload, "RS256", rsa_)),
            TokenError::kNone);
}

TEST_F(JwtTest, EveryJwkType) {
  VerifierConfig c;
  std::string oct = R"({"kty":"oct","kid":"h","k":")" + b64(kSecret) + "\"}";
  c.jwks_json = "{\"keys\":[" + jwkOf(rsa_, "r") + "," + jwkOf(p256_, "e256") + "," +
                jwkOf(p384_, "e384") + "," + jwkOf(ed_, "ed") + "," + oct + "]}";
  auto v = make(c);
  EXPECT_EQ(check(*v, makeToken(headerFor("RS256", "r"), kPayload, "RS256", rsa_)),
            TokenError::kNone);
  EXPECT_EQ(check(*v, makeToken(headerFor("RS512", "r"), kPayload, "RS512", rsa_)),
            TokenError::kNone);
  EXPECT_EQ(check(*v, makeToken(headerFor("ES256", "e256"), kPayload, "ES256", p256_)),
            TokenError::kNone);
  EXPECT_EQ(check(*v, makeToken(headerFor("ES384", "e384"), kPayload, "ES384", p384_)),
            TokenError::kNone);
  EXPECT_EQ(check(*v, makeToken(headerFor("EdDSA", "ed"), kPayload, "EdDSA", ed_)),
            TokenError::kNone);
  EXPECT_EQ(check(*v, makeToken(headerFor("HS384", "h"), kPayload, "HS384", nullptr,
                                kSecret)),
            TokenError::kNone);
  // The right key id, the wrong key family.
  EXPECT_EQ(check(*v, makeToken(headerFor("ES256", "r"), kPayload, "ES256", p256_)),
            TokenError::kAlgKeyMismatch);
}

TEST_F(JwtTest, SingleJwkWithoutKeysArray) {
  VerifierConfig c;
  c.jwks_json = jwkOf(ed_, "");
  auto v = make(c);
  EXPECT_EQ(check(*v, makeToken(headerFor("EdDSA"), kPayload, "EdDSA", ed_)),
            TokenError::kNone);
}

// --- Refused algorithms and key confusion -----------------------------------

TEST_F(JwtTest, AlgNoneIsAlwaysRefused) {
  auto v = withSecret();
  const std::string unsigned_token = b64(R"({"alg":"none"})") + "." + b64(kPayload) + ".";
  EXPECT_EQ(check(*v, unsigned_token), TokenError::kUnsupportedAlg);
  // Even with a signature that would be right for HS256.
  EXPECT_EQ(check(*v, makeToken(R"({"alg":"none"})", kPayload, "HS256", nullptr, kSecret)),
            TokenError::kUnsupportedAlg);
  for (const char* alg : {"None", "NONE", "hs256", "HS1", "PS256", "ES512", ""}) {
    std::string header = "{\"alg\":\"" + std::string(alg) + "\"}";
    EXPECT_EQ(check(*v, makeToken(header, kPayload, "HS256", nullptr, kSecret)),
              TokenError::kUnsupportedAlg)
        << alg;
  }
}

TEST_F(JwtTest, Hs256SignedWithRsaPublicKeyIsRefused) {
  // The classic confusion: the attacker knows the RSA public key and uses its
  // PEM text as an HMAC secret.
  const std::string pem = pemOf(rsa_);
  const std::string forged = makeToken(headerFor("HS256"), kPayload, "HS256", nullptr, pem);
  EXPECT_EQ(check(*withPem(rsa_), forged), TokenError::kAlgKeyMismatch);

  VerifierConfig jwks;
  jwks.jwks_json = "{\"keys\":[" + jwkOf(rsa_, "r") + "]}";
  EXPECT_EQ(check(*make(jwks), forged), TokenError::kAlgKeyMismatch);
  EXPECT_EQ(check(*make(jwks), makeToken(headerFor("HS256", "r"), kPayload, "HS256",
                                         nullptr, pem)),
            TokenError::kAlgKeyMismatch);

  // With an HMAC secret configured too, the forged token meets that secret.
  VerifierConfig both;
  both.public_key_pem = pem;
  both.hmac_secret = kSecret;
  EXPECT_EQ(check(*make(both), forged), TokenError::kBadSignature);
}

TEST_F(JwtTest, KeyMustMatchAlgorithmFamilyAndCurve) {
  EXPECT_EQ(check(*withPem(p384_), makeToken(headerFor("ES256"), kPayload, "ES256", p256_)),
            TokenError::kAlgKeyMismatch);
  EXPECT_EQ(check(*withPem(p256_), makeToken(headerFor("ES384"), kPayload, "ES384", p384_)),
            TokenError::kAlgKeyMismatch);
  EXPECT_EQ(check(*withPem(p256_), makeToken(headerFor("EdDSA"), kPayload, "EdDSA", ed_)),
            TokenError::kAlgKeyMismatch);
  EXPECT_EQ(check(*withPem(ed_), makeToken(headerFor("RS256"), kPayload, "RS256", rsa_)),
            TokenError::kAlgKeyMismatch);
  EXPECT_EQ(check(*withPem(rsa_), makeToken(headerFor("ES256"), kPayload, "ES256", p256_)),
            TokenError::kAlgKeyMismatch);
  EXPECT_EQ(check(*withSecret(), makeToken(headerFor("RS256"), kPayload, "RS256", rsa_)),
            TokenError::kAlgKeyMismatch);

  // A JWK's own "alg" pins the algorithm.
  VerifierConfig c;
  c.jwks_json = "{\"keys\":[" + jwkOf(rsa_, "r", R"(,"alg":"RS256","use":"sig")") + "]}";
  auto v = make(c);
  EXPECT_EQ(check(*v, makeToken(headerFor("RS256", "r"), kPayload, "RS256", rsa_)),
            TokenError::kNone);
  EXPECT_EQ(check(*v, makeToken(headerFor("RS384", "r"), kPayload, "RS384", rsa_)),
            TokenError::kAlgKeyMismatch);
}

// --- Signatures ---------------------------------------------------------------

TEST_F(JwtTest, WrongSignaturesAreRefused) {
  auto hs = withSecret();
  std::string token = hs256(kPayload);
  std::string tampered = token;
  tampered[tampered.size() - 2] = tampered[tampered.size() - 2] == 'A' ? 'B' : 'A';
  EXPECT_EQ(check(*hs, tampered), TokenError::kBadSignature);
  EXPECT_EQ(check(*hs, makeToken(headerFor("HS256"), kPayload, "HS256", nullptr, "other")),
            TokenError::kBadSignature);
  // Another payload under the original signature.
  std::string swapped = b64(headerFor("HS256")) + "." + b64(R"({"sub":"1"})") +
                        token.substr(token.rfind('.'));
  EXPECT_EQ(check(*hs, swapped), TokenError::kBadSignature);
  // A truncated MAC and an empty signature.
  const std::string input = token.substr(0, token.rfind('.'));
  EXPECT_EQ(check(*hs, input + "." + b64(signRaw("HS256", nullptr, kSecret, input).substr(0, 16))),
            TokenError::kBadSignature);
  EXPECT_EQ(check(*hs, input + "."), TokenError::kBadSignature);

  EXPECT_EQ(check(*withPem(rsa_), makeToken(headerFor("RS256"), kPayload, "RS256",
                                            rsa_other_)),
            TokenError::kBadSignature);
  // The same key family at another hash size.
  const std::string rs_input = b64(headerFor("RS256")) + "." + b64(kPayload);
  EXPECT_EQ(check(*withPem(rsa_), rs_input + "." + b64(signRaw("RS384", rsa_, "", rs_input))),
            TokenError::kBadSignature);
}

TEST_F(JwtTest, BadEcdsaSignaturesAreRefused) {
  auto v = withPem(p256_);
  const std::string input = b64(headerFor("ES256")) + "." + b64(kPayload);
  // r = s = 0 must never verify ("psychic signatures").
  EXPECT_EQ(check(*v, input + "." + b64(std::string(64, '\0'))), TokenError::kBadSignature);
  // DER is not the JWS encoding.
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ASSERT_EQ(EVP_DigestSignInit_ex(ctx, nullptr, "SHA256", nullptr, nullptr, p256_, nullptr),
            1);
  unsigned char der[128];
  size_t len = sizeof der;
  ASSERT_EQ(EVP_DigestSign(ctx, der, &len, reinterpret_cast<const unsigned char*>(input.data()),
                           input.size()),
            1);
  EVP_MD_CTX_free(ctx);
  EXPECT_EQ(check(*v, input + "." + b64(std::string_view(reinterpret_cast<char*>(der), len))),
            TokenError::kBadSignature);
  // Right length, one bit off.
  std::string raw = signRaw("ES256", p256_, "", input);
  raw[40] ^= 1;
  EXPECT_EQ(check(*v, input + "." + b64(raw)), TokenError::kBadSignature);
  // Failures leave nothing on OpenSSL's per-thread error queue.
  EXPECT_EQ(ERR_peek_error(), 0u);
}

// --- Time claims --------------------------------------------------------------

TEST_F(JwtTest, ExpiryAndNotBefore) {
  auto v = withSecret();
  auto at = [&](std::string_view claim, int64_t t) {
    return check(*v, hs256("{\"sub\":\"1\",\"" + std::string(claim) + "\":" +
                           std::to_string(t) + "}"));
  };
  EXPECT_EQ(at("exp", kNow + 1), TokenError::kNone);
  EXPECT_EQ(at("exp", kNow), TokenError::kExpired);
  EXPECT_EQ(at("exp", kNow - 1), TokenError::kExpired);
  EXPECT_EQ(at("nbf", kNow), TokenError::kNone);
  EXPECT_EQ(at("nbf", kNow + 1), TokenError::kNotYetValid);
  EXPECT_EQ(at("iat", kNow + 1000), TokenError::kNone);  // iat is informational
  EXPECT_EQ(check(*v, hs256(R"({"sub":"1"})")), TokenError::kNone);  // no exp: no expiry

  // An expired but authentic token still reports who it was for.
  Claims claims;
  EXPECT_EQ(check(*v, hs256(R"({"sub":"7","exp":1})"), &claims), TokenError::kExpired);
  EXPECT_EQ(claims.sub, "7");
}

TEST_F(JwtTest, Leeway) {
  auto v = withSecret(5);
  auto at = [&](std::string_view claim, int64_t t) {
    return check(*v, hs256("{\"" + std::string(claim) + "\":" + std::to_string(t) + "}"));
  };
  EXPECT_EQ(at("exp", kNow - 4), TokenError::kNone);
  EXPECT_EQ(at("exp", kNow - 5), TokenError::kExpired);
  EXPECT_EQ(at("nbf", kNow + 5), TokenError::kNone);
  EXPECT_EQ(at("nbf", kNow + 6), TokenError::kNotYetValid);
  VerifierConfig c;
  c.hmac_secret = kSecret;
  c.leeway_seconds = -1;
  EXPECT_NE(createError(c), "");
}

TEST_F(JwtTest, NumericDatesMayBeFractionalOrHuge) {
  auto v = withSecret();
  Claims claims;
  EXPECT_EQ(check(*v, hs256(R"({"exp":1700000000.9})")), TokenError::kExpired);  // floor
  EXPECT_EQ(check(*v, hs256(R"({"nbf":1700000000.1})")), TokenError::kNotYetValid);  // ceil
  EXPECT_EQ(check(*v, hs256(R"({"exp":18446744073709551615})"), &claims), TokenError::kNone);
  EXPECT_EQ(claims.exp, INT64_MAX);
  EXPECT_EQ(check(*v, hs256(R"({"exp":1e300})")), TokenError::kNone);
  EXPECT_EQ(check(*v, hs256(R"({"nbf":-1e300})")), TokenError::kNone);
  EXPECT_EQ(check(*v, hs256(R"({"exp":"1800000000"})")), TokenError::kMalformed);
  EXPECT_EQ(check(*v, hs256(R"({"exp":null})")), TokenError::kMalformed);
}

// --- Audience and issuer -------------------------------------------------------

TEST_F(JwtTest, Audience) {
  VerifierConfig c;
  c.hmac_secret = kSecret;
  c.audience = "herald";
  auto v = make(c);
  EXPECT_EQ(check(*v, hs256(R"({"aud":"herald"})")), TokenError::kNone);
  Claims claims;
  EXPECT_EQ(check(*v, hs256(R"({"aud":["web","herald"]})"), &claims), TokenError::kNone);
  EXPECT_EQ(claims.aud, (std::vector<std::string>{"web", "herald"}));
  EXPECT_EQ(check(*v, hs256(R"({"aud":"web"})")), TokenError::kBadAudience);
  EXPECT_EQ(check(*v, hs256(R"({"aud":[]})")), TokenError::kBadAudience);
  EXPECT_EQ(check(*v, hs256(R"({"sub":"1"})")), TokenError::kBadAudience);
  EXPECT_EQ(check(*v, hs256(R"({"aud":"Herald"})")), TokenError::kBadAudience);
  EXPECT_EQ(check(*v, hs256(R"({"aud":["herald",1]})")), TokenError::kMalformed);
  // Not configured: any audience passes.
  EXPECT_EQ(check(*withSecret(), hs256(R"({"aud":"web"})")), TokenError::kNone);
}

TEST_F(JwtTest, Issuer) {
  VerifierConfig c;
  c.hmac_secret = kSecret;
  c.issuer = "https://auth.example";
  auto v = make(c);
  EXPECT_EQ(check(*v, hs256(R"({"iss":"https://auth.example"})")), TokenError::kNone);
  EXPECT_EQ(check(*v, hs256(R"({"iss":"https://evil.example"})")), TokenError::kBadIssuer);
  EXPECT_EQ(check(*v, hs256(R"({"sub":"1"})")), TokenError::kBadIssuer);
  EXPECT_EQ(check(*v, hs256(R"({"iss":["https://auth.example"]})")), TokenError::kMalformed);
}

// --- Key ids ------------------------------------------------------------------

TEST_F(JwtTest, KeyIds) {
  VerifierConfig two;
  two.jwks_json = "{\"keys\":[" + jwkOf(p256_, "a") + "," + jwkOf(rsa_, "b") + "]}";
  auto v = make(two);
  EXPECT_EQ(check(*v, makeToken(headerFor("ES256", "a"), kPayload, "ES256", p256_)),
            TokenError::kNone);
  EXPECT_EQ(check(*v, makeToken(headerFor("ES256", "c"), kPayload, "ES256", p256_)),
            TokenError::kUnknownKid);
  EXPECT_EQ(check(*v, makeToken(headerFor("ES256"), kPayload, "ES256", p256_)),
            TokenError::kUnknownKid);  // no kid, several keys

  VerifierConfig one;
  one.jwks_json = "{\"keys\":[" + jwkOf(p256_, "a") + "]}";
  auto single = make(one);
  EXPECT_EQ(check(*single, makeToken(headerFor("ES256"), kPayload, "ES256", p256_)),
            TokenError::kNone);
  EXPECT_EQ(check(*single, makeToken(headerFor("ES256", "z"), kPayload, "ES256", p256_)),
            TokenError::kUnknownKid);

  // Without a JWKS, a kid is ignored and the configured key is used.
  EXPECT_EQ(check(*withPem(p256_), makeToken(headerFor("ES256", "x"), kPayload, "ES256",
                                             p256_)),
            TokenError::kNone);
  // kid must be a string.
  EXPECT_EQ(check(*single, makeToken(R"({"alg":"ES256","kid":1})", kPayload, "ES256",
                                     p256_)),
            TokenError::kMalformed);
}

TEST_F(JwtTest, NoKeys) {
  auto v = make(VerifierConfig{});
  EXPECT_FALSE(v->hasKeys());
  EXPECT_EQ(check(*v, hs256(kPayload)), TokenError::kNoKey);
  EXPECT_TRUE(withSecret()->hasKeys());
}

// --- Malformed and oversized tokens ------------------------------------------

TEST_F(JwtTest, MalformedStructure) {
  auto v = withSecret();
  const std::string good = hs256(kPayload);
  const std::string h = b64(headerFor("HS256"));
  const std::string p = b64(kPayload);
  for (const std::string& bad : std::vector<std::string>{
           "", ".", "..", "abc", h + "." + p, good + ".", good + ".x.y", "." + p + ".AAAA",
           h + "=." + p + ".AAAA", h + "." + p + "=.AAAA", good + "=", h + ".p*y.AAAA",
           " " + good, good + "\n"}) {
    EXPECT_EQ(check(*v, bad), TokenError::kMalformed) << bad;
  }
}

TEST_F(JwtTest, MalformedJson) {
  auto v = withSecret();
  auto header = [&](std::string_view json) {
    return check(*v, makeToken(json, kPayload, "HS256", nullptr, kSecret));
  };
  EXPECT_EQ(header("not json"), TokenError::kMalformed);
  EXPECT_EQ(header(R"(["HS256"])"), TokenError::kMalformed);
  EXPECT_EQ(header(R"({"typ":"JWT"})"), TokenError::kMalformed);  // no alg
  EXPECT_EQ(header(R"({"alg":256})"), TokenError::kMalformed);
  EXPECT_EQ(header(R"({"alg":"HS256","alg":"none"})"), TokenError::kMalformed);
  EXPECT_EQ(header(R"({"alg":"HS256"} x)"), TokenError::kMalformed);
  EXPECT_EQ(header(R"({"alg":"HS256","crit":["exp"]})"), TokenError::kMalformed);
  EXPECT_EQ(header("{\"alg\":\"HS256\",\"x\":\"\xff\"}"), TokenError::kMalformed);
  EXPECT_EQ(header(R"({"alg":"HS256","jwk":{"kty":"oct","k":"AAAA"}})"), TokenError::kNone);

  // Payloads, correctly signed.
  for (const char* bad : {"", "null", "[]", "\"x\"", "{", R"({"sub":42})",
                          R"({"sub":"1","sub":"2"})", R"({"channels":"chat"})",
                          R"({"channels":["a",1]})", R"({"publish":{}})",
                          R"({"channel":null})", R"({"iss":1})", "{}{}"}) {
    EXPECT_EQ(check(*v, hs256(bad)), TokenError::kMalformed) << bad;
  }
}

TEST_F(JwtTest, OversizedTokensAreRefusedUnread) {
  VerifierConfig c;
  c.hmac_secret = kSecret;
  c.max_token_bytes = 300;
  auto v = make(c);
  std::string payload = R"({"sub":"1","pad":")";
  std::string token;
  do {
    payload.push_back('x');
    token = hs256(payload + "\"}");
  } while (token.size() < 300);
  if (token.size() == 300) {
    EXPECT_EQ(check(*v, token), TokenError::kNone);
  }
  EXPECT_EQ(check(*v, std::string(301, '.')), TokenError::kTooLarge);
  std::string big = hs256(payload + std::string(10, 'y') + "\"}");
  EXPECT_EQ(check(*v, big), TokenError::kTooLarge);
  // The default limit is 8 KiB.
  auto d = withSecret();
  EXPECT_EQ(check(*d, std::string(8 * 1024 + 1, 'A')), TokenError::kTooLarge);
  EXPECT_EQ(check(*d, std::string(8 * 1024, 'A')), TokenError::kMalformed);
}

// --- Claims ---------------------------------------------------------------------

TEST_F(JwtTest, ClaimsAreParsed) {
  auto v = withSecret();
  Claims c;
  ASSERT_EQ(check(*v, hs256(R"({
      "sub": "user-\u00e9\n",
      "exp": 1800000000, "nbf": 1600000000, "iat": 1650000000,
      "aud": "herald", "iss": "me",
      "channels": ["chat:*", "news"], "publish": ["chat:lobby"],
      "info": {"name": "Ann", "tags": [1, 2.5, true, null], "n": {}},
      "channel": "private:1", "unknown": {"deep": [1, {"x": 2}]}
  })"), &c),
            TokenError::kNone);
  EXPECT_EQ(c.sub, "user-\xc3\xa9\n");
  EXPECT_EQ(c.exp, 1800000000);
  EXPECT_EQ(c.nbf, 1600000000);
  EXPECT_EQ(c.iat, 1650000000);
  EXPECT_EQ(c.aud, std::vector<std::string>{"herald"});
  EXPECT_EQ(c.iss, "me");
  EXPECT_EQ(c.channels, (std::vector<std::string>{"chat:*", "news"}));
  EXPECT_EQ(c.publish, std::vector<std::string>{"chat:lobby"});
  EXPECT_EQ(c.info_json, R"({"name":"Ann","tags":[1,2.5,true,null],"n":{}})");
  EXPECT_EQ(c.channel, "private:1");

  Claims empty;
  ASSERT_EQ(check(*v, hs256("{}"), &empty), TokenError::kNone);
  EXPECT_EQ(empty.sub, "");
  EXPECT_FALSE(empty.exp || empty.nbf || empty.iat);
  EXPECT_TRUE(empty.info_json.empty() && empty.channels.empty() && empty.aud.empty());

  Claims scalar_info;
  ASSERT_EQ(check(*v, hs256(R"({"info":"text"})"), &scalar_info), TokenError::kNone);
  EXPECT_EQ(scalar_info.info_json, "\"text\"");
}

TEST_F(JwtTest, FailedVerificationClearsClaims) {
  auto v = withSecret();
  Claims c;
  c.sub = "stale";
  c.channels = {"x"};
  EXPECT_EQ(check(*v, "garbage", &c), TokenError::kMalformed);
  EXPECT_TRUE(c.sub.empty() && c.channels.empty());
}

// --- Signing ----------------------------------------------------------------------

TEST_F(JwtTest, SignHs256RoundTrips) {
  Claims in;
  in.sub = "we\"ird\\\x01";
  in.exp = kNow + 3600;
  in.iat = kNow;
  in.aud = {"a", "b"};
  in.iss = "herald";
  in.channels = {"chat:*", "news"};
  in.publish = {"chat:lobby"};
  in.info_json = R"({"name":"Ann"})";
  in.channel = "c";
  const std::string token = signHs256(kSecret, in);

  // The signature is plain HMAC-SHA256 over the first two segments.
  const size_t dot = token.rfind('.');
  EXPECT_EQ(token.substr(dot + 1), b64(signRaw("HS256", nullptr, kSecret, token.substr(0, dot))));
  std::string header;
  ASSERT_TRUE(base64UrlDecode(token.substr(0, token.find('.')), &header));
  EXPECT_EQ(header, R"({"alg":"HS256","typ":"JWT"})");

  Claims out;
  ASSERT_EQ(check(*withSecret(), token, &out), TokenError::kNone);
  EXPECT_EQ(out.sub, in.sub);
  EXPECT_EQ(out.exp, in.exp);
  EXPECT_EQ(out.iat, in.iat);
  EXPECT_FALSE(out.nbf);
  EXPECT_EQ(out.aud, in.aud);
  EXPECT_EQ(out.iss, in.iss);
  EXPECT_EQ(out.channels, in.channels);
  EXPECT_EQ(out.publish, in.publish);
  EXPECT_EQ(out.info_json, in.info_json);
  EXPECT_EQ(out.channel, in.channel);

  Claims minimal;
  minimal.sub = "42";
  EXPECT_EQ(claimsToJson(minimal), R"({"sub":"42"})");
  minimal.aud = {"one"};
  EXPECT_EQ(claimsToJson(minimal), R"({"sub":"42","aud":"one"})");
  EXPECT_THROW(signHs256("", minimal), std::invalid_argument);
}

// --- Configuration errors ---------------------------------------------------------

TEST_F(JwtTest, BadKeysAreReportedAtCreation) {
  auto pem = [](std::string text) {
    VerifierConfig c;
    c.public_key_pem = std::move(text);
    return createError(c);
  };
  auto jwks = [](std::string text) {
    VerifierConfig c;
    c.jwks_json = std::move(text);
    return createError(c);
  };
  EXPECT_NE(pem("not a key"), "");
  EXPECT_NE(pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"), "");
  PkeyPtr weak(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{1024}));
  EXPECT_NE(pem(pemOf(weak.get())).find("2048"), std::string::npos);
  PkeyPtr p521(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-521"));
  EXPECT_NE(pem(pemOf(p521.get())).find("curve"), std::string::npos);

  EXPECT_NE(jwks("{"), "");
  EXPECT_NE(jwks("[]"), "");
  EXPECT_NE(jwks(R"({"keys":[]})"), "");
  EXPECT_NE(jwks(R"({"keys":[{"kty":"RSA","n":"AQAB"}]})"), "");
  EXPECT_NE(jwks(R"({"keys":[{"kty":"RSA","n":"A+B","e":"AQAB"}]})"), "");
  EXPECT_NE(jwks(R"({"keys":[{"kty":"oct","k":""}]})"), "");
  EXPECT_NE(jwks(R"({"keys":[{"kty":"OKP","crv":"Ed25519","x":"AAAA"}]})"), "");
  // A point that is not on the curve.
  std::string coord = b64(std::string(32, '\x01'));
  EXPECT_NE(jwks(R"({"keys":[{"kty":"EC","crv":"P-256","x":")" + coord + R"(","y":")" +
                 coord + "\"}]}"),
            "");
  // "alg" that contradicts the key type.
  EXPECT_NE(jwks("{\"keys\":[" + jwkOf(p256_, "k", R"(,"alg":"RS256")") + "]}"), "");
  // Only encryption keys or unknown types: nothing usable.
  EXPECT_NE(jwks("{\"keys\":[" + jwkOf(rsa_, "k", R"(,"use":"enc")") +
                 R"(,{"kty":"EC","crv":"P-521","x":"AA","y":"AA"}]})"),
            "");

  // Unusable entries are skipped next to usable ones.
  VerifierConfig mixed;
  mixed.jwks_json = "{\"keys\":[" + jwkOf(rsa_, "enc", R"(,"use":"enc")") +
                    R"(,{"kty":"OKP","crv":"X25519","x":"AA"},{"kty":"XYZ"},)" +
                    jwkOf(rsa_, "ps", R"(,"alg":"PS256")") + "," + jwkOf(p256_, "ok") + "]}";
  auto v = make(mixed);
  EXPECT_EQ(check(*v, makeToken(headerFor("ES256", "ok"), kPayload, "ES256", p256_)),
            TokenError::kNone);
  EXPECT_EQ(check(*v, makeToken(headerFor("RS256", "enc"), kPayload, "RS256", rsa_)),
            TokenError::kUnknownKid);
}

// --- Sharing ------------------------------------------------------------------------

TEST_F(JwtTest, OneVerifierIsSharedByManyThreads) {
  VerifierConfig c;
  c.hmac_secret = kSecret;
  c.jwks_json = "{\"keys\":[" + jwkOf(p256_, "e") + "," + jwkOf(ed_, "d") + "]}";
  auto v = make(c);
  const std::vector<std::string> tokens = {
      hs256(kPayload),
      makeToken(headerFor("ES256", "e"), kPayload, "ES256", p256_),
      makeToken(headerFor("EdDSA", "d"), kPayload, "EdDSA", ed_),
  };
  const std::string bad = tokens[0].substr(0, tokens[0].size() - 3) + "AAA";
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        Claims claims;
        for (const auto& token : tokens) {
          if (v->verify(token, kNow, &claims) != TokenError::kNone || claims.sub != "42") {
            ++failures;
          }
        }
        if (v->verify(bad, kNow, &claims) != TokenError::kBadSignature) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
}

TEST(TokenErrorTest, EveryErrorHasAMessage) {
  for (int e = 0; e <= static_cast<int>(TokenError::kNoKey); ++e) {
    EXPECT_FALSE(tokenErrorMessage(static_cast<TokenError>(e)).empty());
  }
  EXPECT_EQ(tokenErrorMessage(TokenError::kExpired), "token expired");
}

}  // namespace
}  // namespace herald::auth
