#include "jwt.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <ctime>

namespace herald::bench {
namespace {

std::string base64url(const unsigned char* data, size_t n) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((n * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t(data[i]) << 16) | (uint32_t(data[i + 1]) << 8) | data[i + 2];
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = uint32_t(data[i]) << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
  } else if (n - i == 2) {
    uint32_t v = (uint32_t(data[i]) << 16) | (uint32_t(data[i + 1]) << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
  }
  return out;
}

std::string base64url(const std::string& s) {
  return base64url(reinterpret_cast<const unsigned char*>(s.data()), s.size());
}

}  // namespace

std::string makeHs256Token(const std::string& secret, const std::string& user,
                           const std::string& channel, int64_t ttl_s) {
  const int64_t now = int64_t(time(nullptr));
  std::string claims = "{\"sub\":\"" + user + "\",\"iat\":" + std::to_string(now) +
                       ",\"exp\":" + std::to_string(now + ttl_s);
  if (!channel.empty()) claims += ",\"channels\":[\"" + channel + "\"]";
  claims += "}";
  std::string signing_input = base64url(std::string("{\"alg\":\"HS256\",\"typ\":\"JWT\"}")) + "." + base64url(claims);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), secret.data(), int(secret.size()),
       reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac, &mac_len);
  return signing_input + "." + base64url(mac, mac_len);
}

}  // namespace herald::bench
