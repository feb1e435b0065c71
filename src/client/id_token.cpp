#include "client/id_token.h"

#include <array>

#include "jose/jws.h"

namespace latchkey::client {

namespace {

std::unexpected<Error> invalid(std::string what) {
  return fail(ErrorKind::refused, "the id_token is not valid: " + what,
              "log in again; if it persists, check the provider's clock and keys, or --issuer/--client-id");
}

std::optional<util::Timestamp> number_claim(const boost::json::object& o, std::string_view name) {
  auto* v = o.if_contains(name);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<util::Timestamp>(v->as_uint64());
  if (v->is_double()) return static_cast<util::Timestamp>(v->as_double());
  return std::nullopt;
}

}  // namespace

Result<IdTokenClaims> validate_id_token(std::string_view id_token, const std::vector<jose::PublicJwk>& keys,
                                        const IdTokenExpectation& expected) {
  // OIDC Core §3.1.3.7 step 6-7: the signature, with an algorithm we allow (never none or HS*).
  static constexpr std::array kAllowed{jose::Algorithm::ES256, jose::Algorithm::RS256};
  auto verified = jose::verify_jwt(id_token, keys, kAllowed);
  if (!verified) return invalid("signature check failed (" + verified.error() + ")");
  const auto& c = verified->claims;

  // Step 2: iss MUST exactly match the issuer.
  auto* iss = c.if_contains("iss");
  if (!iss || !iss->is_string() || iss->as_string() != expected.issuer)
    return invalid("iss is not " + expected.issuer);

  // Step 3: aud MUST contain our client_id; step 4-5: with several audiences, azp must be us.
  auto* aud = c.if_contains("aud");
  bool ours = false;
  std::size_t audiences = 0;
  if (aud && aud->is_string()) {
    audiences = 1;
    ours = aud->as_string() == expected.client_id;
  } else if (aud && aud->is_array()) {
    for (const auto& a : aud->as_array()) {
      ++audiences;
      if (a.is_string() && a.as_string() == expected.client_id) ours = true;
    }
  }
  if (!ours) return invalid("aud does not contain the client_id " + expected.client_id);
  if (auto* azp = c.if_contains("azp")) {
    if (!azp->is_string() || azp->as_string() != expected.client_id) return invalid("azp is not " + expected.client_id);
  } else if (audiences > 1) {
    return invalid("several audiences but no azp");
  }

  // Step 9: exp in the future (with bounded skew); step 10: iat not in the future.
  auto exp = number_claim(c, "exp");
  if (!exp) return invalid("exp is missing");
  if (*exp + expected.skew < expected.now)
    return invalid("it expired at " + std::to_string(*exp) + " (now " + std::to_string(expected.now) +
                   "; is this computer's clock right?)");
  auto iat = number_claim(c, "iat");
  if (!iat) return invalid("iat is missing");
  if (*iat - expected.skew > expected.now)
    return invalid("it was issued in the future (is this computer's clock right?)");

  // Step 11: the nonce we sent must come back.
  if (!expected.nonce.empty()) {
    auto* nonce = c.if_contains("nonce");
    if (!nonce || !nonce->is_string() || nonce->as_string() != expected.nonce)
      return invalid("nonce does not match the one this login sent");
  }

  // §3.1.3.8: at_hash is optional in the code flow; when present it must match.
  if (auto* at_hash = c.if_contains("at_hash"); at_hash && !expected.access_token.empty()) {
    auto alg = jose::algorithm_from_string(verified->header.at("alg").as_string());
    if (!at_hash->is_string() || !alg || at_hash->as_string() != jose::at_hash(expected.access_token, *alg))
      return invalid("at_hash does not match the access token");
  }

  auto* sub = c.if_contains("sub");
  if (!sub || !sub->is_string() || sub->as_string().empty()) return invalid("sub is missing");
  IdTokenClaims out;
  out.subject = std::string(sub->as_string());
  out.expires_at = *exp;
  out.claims = c;
  return out;
}

}  // namespace latchkey::client
