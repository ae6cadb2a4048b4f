// libFuzzer target for what a token reaches: Verifier::verify (connect,
// subscription and refresh tokens), then the claim-pattern glob and the
// user list of user-limited channels.
//
// The first byte picks the mode:
//  0: the rest is a token, verified as is (structure, base64url, header JSON,
//     algorithm and key selection, signature);
//  1: the rest is a payload, signed with the verifier's HMAC secret, so the
//     claims parser and the claim checks see arbitrary JSON; the claims that
//     come out are fed to globMatch and userMayUse;
//  2: the rest is "pattern\ntext": globMatch must agree with a slow,
//     obviously right recursive matcher.
#include <openssl/evp.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "auth/base64url.h"
#include "auth/glob.h"
#include "auth/jwt.h"
#include "auth/user_channel.h"

namespace {

using namespace herald::auth;

constexpr std::string_view kSecret = "fuzz-secret-fuzz-secret-fuzz-secret!";
constexpr int64_t kNow = 1700000000;

const Verifier& verifier() {
  static const std::unique_ptr<Verifier> v = [] {
    VerifierConfig vc;
    vc.hmac_secret = std::string(kSecret);
    vc.audience = "aud";
    vc.leeway_seconds = 5;
    vc.max_token_bytes = 4096;
    std::string error;
    auto made = Verifier::create(vc, &error);
    if (!made) {
      std::fprintf(stderr, "jwt_fuzz: %s\n", error.c_str());
      std::abort();
    }
    return made;
  }();
  return *v;
}

std::string signHs256(std::string_view payload) {
  std::string token = base64UrlEncode(R"({"alg":"HS256"})");
  token.push_back('.');
  token.append(base64UrlEncode(payload));
  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t mac_len = 0;
  EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, kSecret.data(), kSecret.size(),
            reinterpret_cast<const unsigned char*>(token.data()), token.size(), mac, sizeof mac, &mac_len);
  token.push_back('.');
  token.append(base64UrlEncode(std::string_view(reinterpret_cast<const char*>(mac), mac_len)));
  return token;
}

// Exponential, and right by construction: for short inputs only.
bool slowGlob(std::string_view p, std::string_view t) {
  if (p.empty()) return t.empty();
  if (p[0] == '*') return slowGlob(p.substr(1), t) || (!t.empty() && slowGlob(p, t.substr(1)));
  if (t.empty()) return false;
  return (p[0] == '?' || p[0] == t[0]) && slowGlob(p.substr(1), t.substr(1));
}

void useClaims(const Claims& c) {
  for (const std::string& pattern : c.channels) (void)globMatch(pattern, c.channel);
  for (const std::string& pattern : c.publish) (void)globMatch(pattern, c.sub);
  (void)userMayUse(c.channel, c.sub);
  (void)claimsToJson(c);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  Claims claims;
  switch (data[0] % 3) {
    case 0:
      (void)verifier().verify(rest, kNow, &claims);
      break;
    case 1:
      if (verifier().verify(signHs256(rest), kNow, &claims) != TokenError::kMalformed) useClaims(claims);
      break;
    case 2: {
      const size_t nl = rest.find('\n');
      if (nl == std::string_view::npos || rest.size() > 20) break;
      const std::string_view pattern = rest.substr(0, nl), text = rest.substr(nl + 1);
      if (globMatch(pattern, text) != slowGlob(pattern, text)) {
        std::fprintf(stderr, "jwt_fuzz: globMatch disagrees on %.*s\n", static_cast<int>(rest.size()), rest.data());
        std::abort();
      }
      break;
    }
  }
  return 0;
}
