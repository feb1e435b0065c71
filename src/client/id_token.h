#pragma once
// ID Token validation for the authorization code flow (OIDC Core §3.1.3.7).
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "client/error.h"
#include "jose/jwk.h"
#include "util/clock.h"

namespace latchkey::client {

// Clocks drift; a bounded allowance keeps a slightly fast or slow laptop working without
// accepting tokens that expired long ago.
inline constexpr util::Timestamp kMaxClockSkew = 120;

struct IdTokenExpectation {
  std::string issuer;
  std::string client_id;
  std::string nonce;         // required to match when non-empty
  std::string access_token;  // checked against at_hash when both are present
  util::Timestamp now = 0;
  util::Timestamp skew = kMaxClockSkew;
};

struct IdTokenClaims {
  std::string subject;
  util::Timestamp expires_at = 0;
  boost::json::object claims;
};

// Signature (ES256/RS256 with a key from the provider's JWKS), iss, aud (and azp), exp, iat,
// nonce, at_hash. Each failure names the claim.
Result<IdTokenClaims> validate_id_token(std::string_view id_token, const std::vector<jose::PublicJwk>& keys,
                                        const IdTokenExpectation& expected);

}  // namespace latchkey::client
