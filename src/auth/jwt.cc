#include "auth/jwt.h"

#include <openssl/evp.h>

#include <cmath>
#include <limits>
#include <simdjson.h>
#include <stdexcept>

#include "auth/base64url.h"
#include "auth/key_set.h"

namespace herald::auth {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

constexpr int64_t kMaxTime = std::numeric_limits<int64_t>::max();
constexpr int64_t kMinTime = std::numeric_limits<int64_t>::min();

// Decoded segments and the JSON parser, reused by every verify() on a thread
// so a connect storm does not allocate per token. Strings returned by the
// parser stay valid until its next parse().
struct Scratch {
  simdjson::dom::parser parser;
  std::string header;
  std::string payload;
  std::string signature;
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// Decodes a segment with room for simdjson's padding, so parse() need not copy.
bool decodeJson(std::string_view b64, std::string* out) {
  out->reserve(b64.size() + simdjson::SIMDJSON_PADDING);
  return base64UrlDecode(b64, out);
}

int64_t saturatingAdd(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? kMaxTime : kMinTime;
  return r;
}

// A NumericDate (RFC 7519 §2): integer or fractional seconds. Fractions are
// rounded toward the stricter side (exp down, nbf up); values beyond int64
// saturate.
bool readNumericDate(element value, bool round_up, std::optional<int64_t>* out) {
  switch (value.type()) {
    case element_type::INT64: {
      int64_t v = 0;
      if (value.get_int64().get(v) != simdjson::SUCCESS) return false;
      *out = v;
      return true;
    }
    case element_type::UINT64:  // only used above INT64_MAX
      *out = kMaxTime;
      return true;
    case element_type::DOUBLE: {
      double d = 0;
      if (value.get_double().get(d) != simdjson::SUCCESS || !std::isfinite(d)) return false;
      d = round_up ? std::ceil(d) : std::floor(d);
      if (d >= 9.2e18) {
        *out = kMaxTime;
      } else if (d <= -9.2e18) {
        *out = kMinTime;
      } else {
        *out = static_cast<int64_t>(d);
      }
      return true;
    }
    default:
      return false;
  }
}

bool readString(element value, std::string* out) {
  std::string_view text;
  if (value.get_string().get(text) != simdjson::SUCCESS) return false;
  out->assign(text);
  return true;
}

bool readStringArray(element value, std::vector<std::string>* out) {
  simdjson::dom::array array;
  if (value.get_array().get(array) != simdjson::SUCCESS) return false;
  for (element item : array) {
    std::string_view text;
    if (item.get_string().get(text) != simdjson::SUCCESS) return false;
    out->emplace_back(text);
  }
  return true;
}

struct Header {
  std::string_view alg;
  std::optional<std::string_view> kid;
};

// Reads "alg" and "kid"; refuses "crit" (RFC 7515 §4.1.11: we understand no
// extension) and duplicated members. Views point into the parser.
bool parseHeader(simdjson::dom::parser& parser, const std::string& json, Header* out) {
  object header;
  if (parser.parse(json).get_object().get(header) != simdjson::SUCCESS) return false;
  bool has_alg = false;
  for (auto [key, value] : header) {
    if (key == "alg") {
      if (has_alg || value.get_string().get(out->alg) != simdjson::SUCCESS) return false;
      has_alg = true;
    } else if (key == "kid") {
      std::string_view kid;
      if (out->kid || value.get_string().get(kid) != simdjson::SUCCESS) return false;
      out->kid = kid;
    } else if (key == "crit") {
      return false;
    }
  }
  return has_alg;
}

bool parseClaims(simdjson::dom::parser& parser, const std::string& json, Claims* out) {
  object claims;
  if (parser.parse(json).get_object().get(claims) != simdjson::SUCCESS) return false;
  // A claim given twice could be read differently by another parser.
  enum : uint32_t {
    kSub = 1, kExp = 2, kNbf = 4, kIat = 8, kAud = 16, kIss = 32,
    kChannels = 64, kPublish = 128, kInfo = 256, kChannel = 512,
  };
  uint32_t seen = 0;
  auto once = [&seen](uint32_t bit) {
    if (seen & bit) return false;
    seen |= bit;
    return true;
  };
  for (auto [key, value] : claims) {
    bool ok = true;
    if (key == "sub") {
      ok = once(kSub) && readString(value, &out->sub);
    } else if (key == "exp") {
      ok = once(kExp) && readNumericDate(value, false, &out->exp);
    } else if (key == "nbf") {
      ok = once(kNbf) && readNumericDate(value, true, &out->nbf);
    } else if (key == "iat") {
      ok = once(kIat) && readNumericDate(value, false, &out->iat);
    } else if (key == "aud") {
      std::string aud;
      ok = once(kAud);
      if (ok && readString(value, &aud)) {
        out->aud.push_back(std::move(aud));
      } else if (ok) {
        ok = readStringArray(value, &out->aud);
      }
    } else if (key == "iss") {
      ok = once(kIss) && readString(value, &out->iss);
    } else if (key == "channels") {
      ok = once(kChannels) && readStringArray(value, &out->channels);
    } else if (key == "publish") {
      ok = once(kPublish) && readStringArray(value, &out->publish);
    } else if (key == "info") {
      ok = once(kInfo);
      if (ok) out->info_json = simdjson::minify(value);
    } else if (key == "channel") {
      ok = once(kChannel) && readString(value, &out->channel);
    }
    if (!ok) return false;
  }
  return true;
}

void appendJsonString(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (u < 0x20) {
      out->append("\\u00");
      out->push_back(kHex[u >> 4]);
      out->push_back(kHex[u & 15]);
    } else {
      out->push_back(c);
    }
  }
  out->push_back('"');
}

void appendStringArray(std::string* out, const std::vector<std::string>& items) {
  out->push_back('[');
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out->push_back(',');
    appendJsonString(out, items[i]);
  }
  out->push_back(']');
}

}  // namespace

std::string_view tokenErrorMessage(TokenError error) {
  switch (error) {
    case TokenError::kNone: return "ok";
    case TokenError::kMalformed: return "malformed token";
    case TokenError::kUnsupportedAlg: return "unsupported algorithm";
    case TokenError::kAlgKeyMismatch: return "algorithm does not match the key";
    case TokenError::kUnknownKid: return "unknown key id";
    case TokenError::kBadSignature: return "invalid signature";
    case TokenError::kExpired: return "token expired";
    case TokenError::kNotYetValid: return "token not yet valid";
    case TokenError::kBadAudience: return "invalid audience";
    case TokenError::kBadIssuer: return "invalid issuer";
    case TokenError::kTooLarge: return "token too large";
    case TokenError::kNoKey: return "no key configured";
  }
  return "unknown error";
}

struct Verifier::Impl {
  std::unique_ptr<KeySet> keys;
  std::string audience;
  std::string issuer;
  int64_t leeway = 0;
  size_t max_token_bytes = 0;
};

Verifier::Verifier(std::unique_ptr<const Impl> impl) : impl_(std::move(impl)) {}
Verifier::~Verifier() = default;

std::unique_ptr<Verifier> Verifier::create(const VerifierConfig& config,
                                           std::string* error) {
  if (config.leeway_seconds < 0) {
    *error = "leeway must not be negative";
    return nullptr;
  }
  auto impl = std::make_unique<Impl>();
  impl->keys = KeySet::create(config.hmac_secret, config.public_key_pem,
                              config.jwks_json, error);
  if (!impl->keys) return nullptr;
  impl->audience = config.audience;
  impl->issuer = config.issuer;
  impl->leeway = config.leeway_seconds;
  impl->max_token_bytes = config.max_token_bytes;
  return std::unique_ptr<Verifier>(new Verifier(std::move(impl)));
}

bool Verifier::hasKeys() const { return !impl_->keys->empty(); }

TokenError Verifier::verify(std::string_view token, int64_t now,
                            Claims* out) const noexcept {
  *out = Claims{};
  if (token.size() > impl_->max_token_bytes) return TokenError::kTooLarge;

  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return TokenError::kMalformed;  // JWE (five parts) lands here too
  }
  Scratch& s = scratch();
  Header header;
  if (!decodeJson(token.substr(0, dot1), &s.header) ||
      !parseHeader(s.parser, s.header, &header)) {
    return TokenError::kMalformed;
  }
  const std::optional<Alg> alg = algFromName(header.alg);
  if (!alg) return TokenError::kUnsupportedAlg;
  if (!decodeJson(token.substr(dot1 + 1, dot2 - dot1 - 1), &s.payload) ||
      !base64UrlDecode(token.substr(dot2 + 1), &s.signature)) {
    return TokenError::kMalformed;
  }

  // The payload's JSON is parsed only once the signature is known to be good.
  TokenError error = impl_->keys->verify(*alg, header.kid, token.substr(0, dot2),
                                         s.signature);
  if (error != TokenError::kNone) return error;
  if (!parseClaims(s.parser, s.payload, out)) {
    *out = Claims{};
    return TokenError::kMalformed;
  }
  if (out->exp && saturatingAdd(now, -impl_->leeway) >= *out->exp) {
    return TokenError::kExpired;
  }
  if (out->nbf && saturatingAdd(now, impl_->leeway) < *out->nbf) {
    return TokenError::kNotYetValid;
  }
  if (!impl_->audience.empty()) {
    bool found = false;
    for (const auto& aud : out->aud) found = found || aud == impl_->audience;
    if (!found) return TokenError::kBadAudience;
  }
  if (!impl_->issuer.empty() && out->iss != impl_->issuer) return TokenError::kBadIssuer;
  return TokenError::kNone;
}

std::string claimsToJson(const Claims& claims) {
  std::string out = "{\"sub\":";
  appendJsonString(&out, claims.sub);
  auto number = [&out](const char* key, const std::optional<int64_t>& value) {
    if (!value) return;
    out.append(key);
    out.append(std::to_string(*value));
  };
  number(",\"exp\":", claims.exp);
  number(",\"nbf\":", claims.nbf);
  number(",\"iat\":", claims.iat);
  if (claims.aud.size() == 1) {
    out.append(",\"aud\":");
    appendJsonString(&out, claims.aud.front());
  } else if (!claims.aud.empty()) {
    out.append(",\"aud\":");
    appendStringArray(&out, claims.aud);
  }
  if (!claims.iss.empty()) {
    out.append(",\"iss\":");
    appendJsonString(&out, claims.iss);
  }
  if (!claims.channel.empty()) {
    out.append(",\"channel\":");
    appendJsonString(&out, claims.channel);
  }
  if (!claims.channels.empty()) {
    out.append(",\"channels\":");
    appendStringArray(&out, claims.channels);
  }
  if (!claims.publish.empty()) {
    out.append(",\"publish\":");
    appendStringArray(&out, claims.publish);
  }
  if (!claims.info_json.empty()) {
    out.append(",\"info\":");
    out.append(claims.info_json);
  }
  out.push_back('}');
  return out;
}

std::string signHs256(std::string_view secret, const Claims& claims) {
  if (secret.empty()) throw std::invalid_argument("signHs256: empty secret");
  std::string token = base64UrlEncode(R"({"alg":"HS256","typ":"JWT"})");
  token.push_back('.');
  token.append(base64UrlEncode(claimsToJson(claims)));
  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t mac_len = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret.data(), secret.size(),
                reinterpret_cast<const unsigned char*>(token.data()), token.size(), mac,
                sizeof mac, &mac_len) == nullptr) {
    throw std::runtime_error("signHs256: HMAC failed");
  }
  token.push_back('.');
  token.append(base64UrlEncode(
      std::string_view(reinterpret_cast<const char*>(mac), mac_len)));
  return token;
}

}  // namespace herald::auth
