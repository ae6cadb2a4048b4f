// Base64url (RFC 4648 §5) without padding, as JWS uses it (RFC 7515 §2).
// Decoding is strict so that one token has exactly one spelling: only the
// characters A-Z a-z 0-9 - _ are accepted (no '=', no whitespace), a length
// of 4n+1 is refused, and the unused low bits of the last character must be
// zero. Stateless free functions; safe from any thread.
#pragma once

#include <string>
#include <string_view>

namespace herald::auth {

// Encodes `data` as base64url without padding.
std::string base64UrlEncode(std::string_view data);

// Decodes `in` into *out (replacing its contents). Returns false, leaving
// *out unspecified, when `in` is not canonical unpadded base64url.
bool base64UrlDecode(std::string_view in, std::string* out);

}  // namespace herald::auth
