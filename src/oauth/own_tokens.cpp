#include "oauth/own_tokens.h"

#include "jose/jws.h"
#include "util/crypto.h"

namespace latchkey::oauth {
namespace {

std::string string_claim(const boost::json::object& o, std::string_view name) {
  auto* v = o.if_contains(name);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::int64_t int_claim(const boost::json::object& o, std::string_view name) {
  auto* v = o.if_contains(name);
  if (!v) return 0;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
  return 0;
}

std::optional<jose::VerifiedJwt> verify_own(Context& ctx, std::string_view token) {
  auto keys = ctx.keys.snapshot();
  if (!keys || token.empty()) return std::nullopt;
  static constexpr jose::Algorithm kAllowed[] = {jose::Algorithm::ES256, jose::Algorithm::RS256};
  auto verified = jose::verify_jwt(token, keys->public_keys, kAllowed);
  if (!verified || string_claim(verified->claims, "iss") != ctx.config.issuer) return std::nullopt;
  return std::move(*verified);
}

}  // namespace

std::optional<AccessTokenView> decode_own_access_token(Context& ctx, std::string_view token) {
  auto v = verify_own(ctx, token);
  // RFC 9068 §4: the typ header tells access tokens from id_tokens; nothing else passes.
  if (!v || string_claim(v->header, "typ") != "at+jwt") return std::nullopt;
  AccessTokenView out;
  out.claims = std::move(v->claims);
  out.jti = string_claim(out.claims, "jti");
  out.client_id = string_claim(out.claims, "client_id");
  out.sub = string_claim(out.claims, "sub");
  out.exp = int_claim(out.claims, "exp");
  out.iat = int_claim(out.claims, "iat");
  out.scope = string_claim(out.claims, "scope");
  out.grant_id = string_claim(out.claims, "grant_id");
  if (out.jti.empty() || out.client_id.empty() || out.exp == 0) return std::nullopt;
  return out;
}

bool is_access_token_active(Context& ctx, const AccessTokenView& token) {
  const auto now = ctx.clock.now();
  if (now >= token.exp) return false;
  std::string grant_id = token.grant_id;
  // The signature vouches for the claims, so a missing row is not a forgery: tokens are stored
  // only when revoked (and, before access tokens became stateless, at issuance).
  if (auto record = ctx.store.find_access_token(token.jti)) {
    if (record->revoked_at != 0) return false;
    if (grant_id.empty()) grant_id = record->grant_id;  // a token from before the grant_id claim
  }
  if (!grant_id.empty()) {
    // A grant that was revoked (refresh-token or code reuse, RFC 7009 on its refresh token, admin)
    // or purged ends every access token issued under it.
    auto grant = ctx.store.find_grant(grant_id);
    if (!grant || grant->revoked_at != 0) return false;
  }
  return true;
}

store::AccessTokenRecord revoked_access_token_record(const AccessTokenView& token, std::int64_t now) {
  // expires_at from the token: purge_expired drops the row once the token could not pass anyway.
  return store::AccessTokenRecord{.jti = token.jti, .grant_id = token.grant_id, .client_id = token.client_id,
                                  .expires_at = token.exp, .revoked_at = now};
}

std::optional<RefreshTokenView> find_active_refresh_token(Context& ctx, std::string_view token) {
  if (token.empty() || token.size() > 512) return std::nullopt;
  auto rt = ctx.store.find_refresh_token(util::secret_hash(token));
  if (!rt || rt->used_at != 0 || ctx.clock.now() >= rt->expires_at) return std::nullopt;
  auto grant = ctx.store.find_grant(rt->grant_id);
  if (!grant || grant->revoked_at != 0) return std::nullopt;
  return RefreshTokenView{std::move(*rt), std::move(*grant)};
}

std::optional<boost::json::object> decode_own_id_token(Context& ctx, std::string_view token) {
  auto v = verify_own(ctx, token);
  if (!v || string_claim(v->header, "typ") == "at+jwt") return std::nullopt;
  return std::move(v->claims);
}

}  // namespace latchkey::oauth
