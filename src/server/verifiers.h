// Building the token Verifier from the [auth] settings: read the key files,
// fetch jwks_url once, and parse. Shared by `herald serve` and `herald
// checktoken` so both check tokens by the same rules. Start-up only: these
// throw std::runtime_error with a message naming the setting at fault.
#pragma once

#include <memory>
#include <string>

#include "auth/jwt.h"
#include "config/config.h"

namespace herald::server {

// Longest JWKS document accepted from jwks_url.
constexpr size_t kMaxJwksBytes = 1024 * 1024;
// Seconds one fetch of jwks_url may take.
constexpr double kJwksFetchTimeout = 10.0;

// The VerifierConfig of `auth`, key files read and jwks_url fetched.
auth::VerifierConfig verifierConfig(const config::Auth& auth);

// A verifier for `vc`; null when it has no key at all (tokens then get 101).
std::shared_ptr<const auth::Verifier> makeVerifier(const auth::VerifierConfig& vc);

}  // namespace herald::server
