#pragma once
// JWS compact serialization (RFC 7515 §7.1) and JWT signing/verification (RFC 7519, RFC 8725).
//
// Decision: JOSE is built on OpenSSL 3 EVP directly, with Boost.JSON for JSON and our strict
// util/base64url. The cryptography is all OpenSSL's; cjose 0.6 would have added jansson as a
// second JSON library next to Boost.JSON, and parses keys on every call. What is hand-written
// here is only the compact serialization and JWK import/export: small, strict, and fuzzable.
#include <boost/json/object.hpp>
#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "jose/jwk.h"

namespace latchkey::jose {

// Tokens above this size are refused before any parsing.
inline constexpr std::size_t kMaxTokenSize = 16 * 1024;

// Compact JWS with the protected header {"alg","typ","kid"}; typ is omitted when empty
// (RFC 9068 §2.1 wants "at+jwt" for access tokens; id_tokens carry no typ, or "JWT").
std::string sign_jwt(const SigningKeyPair& key, std::string_view kid, std::string_view typ,
                     const boost::json::object& claims);

struct VerifiedJwt {
  boost::json::object header;
  boost::json::object claims;
};

// Verifies the signature of a compact JWS whose payload is a JSON object.
//  - exactly three parts, each strict base64url; at most kMaxTokenSize bytes;
//  - header "alg" must be in `allowed`: "none" and HS* can never be (RFC 8725 §3.1);
//  - the key is chosen by "kid"; without a kid only when exactly one key has that alg;
//  - the key's own alg must equal the header alg (no algorithm confusion, RFC 8725 §3.1);
//  - a "crit" header is refused: we implement no extensions (RFC 7515 §4.1.11);
//  - keys named by the token itself (jwk, jku, x5u, x5c) are ignored, never fetched or trusted.
// Claims (exp, iss, aud, ...) are NOT checked here: that is the caller's job.
std::expected<VerifiedJwt, std::string> verify_jwt(std::string_view token, const std::vector<PublicJwk>& keys,
                                                   std::span<const Algorithm> allowed);

// OIDC Core §3.1.3.6: base64url of the left half of the hash of the ASCII access token, the
// hash being the one of the id_token's alg — SHA-256 for both ES256 and RS256.
std::string at_hash(std::string_view access_token, Algorithm alg);

}  // namespace latchkey::jose
