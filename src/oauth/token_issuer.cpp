#include "oauth/token_issuer.h"

#include "jose/jws.h"
#include "oauth/scopes.h"
#include "util/crypto.h"
#include "util/strings.h"

namespace latchkey::oauth {

std::int64_t refresh_token_expiry(const ProviderConfig& config, std::int64_t now, std::int64_t grant_expires_at) {
  std::int64_t expires = now + config.refresh_token_idle_ttl;
  if (grant_expires_at != 0 && grant_expires_at < expires) expires = grant_expires_at;
  return expires;
}

bool should_issue_refresh_token(const store::Client& client, const std::vector<std::string>& scopes) {
  return util::contains(scopes, "offline_access") && util::contains(client.grant_types, "refresh_token");
}

namespace {

boost::json::value audience_claim(const std::vector<std::string>& audiences) {
  if (audiences.size() == 1) return boost::json::string(audiences[0]);
  boost::json::array a;
  for (const auto& s : audiences) a.emplace_back(s);
  return a;
}

}  // namespace

void add_permission_claims(boost::json::object& claims, const store::Client& client, const store::User& user,
                           const std::vector<std::string>& scopes) {
  auto add = [&](std::string_view name, const std::vector<std::string>& values) {
    // Nothing for a client that was not allowed, or did not ask; an empty list is left out
    // (OIDC Core §5.3.2: claims without a value are omitted).
    if (!may_receive_claim(client, scopes, name) || values.empty()) return;
    boost::json::array a;
    for (const auto& v : values) a.emplace_back(v);
    claims[name] = std::move(a);
  };
  add("roles", user.roles);
  add("groups", user.groups);
}

IssuedTokens issue_tokens(Context& ctx, const TokenSubject& s) {
  auto keys = ctx.keys.snapshot();
  if (!keys || !keys->active) throw std::runtime_error("no active signing key");
  const ActiveKey& key = *keys->active;
  const auto now = ctx.clock.now();

  IssuedTokens out;
  out.jti = ctx.random.token(16);
  out.expires_in = ctx.config.access_token_ttl;
  out.scope = util::join(s.scopes);

  // RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat, jti are required; auth_time and scope
  // when known. §3: with no requested resource the server uses a default audience.
  std::vector<std::string> audiences = s.audiences;
  if (audiences.empty())
    audiences.push_back(ctx.config.default_audience.empty() ? ctx.config.issuer : ctx.config.default_audience);
  boost::json::object at;
  at["iss"] = ctx.config.issuer;
  at["sub"] = s.user ? s.user->id : s.client.id;
  at["aud"] = audience_claim(audiences);
  at["exp"] = now + ctx.config.access_token_ttl;
  at["iat"] = now;
  at["nbf"] = now;
  at["jti"] = out.jti;
  at["client_id"] = s.client.id;
  if (!out.scope.empty()) at["scope"] = out.scope;
  if (s.user) {
    at["auth_time"] = s.auth_time;
    add_permission_claims(at, s.client, *s.user, s.scopes);  // RFC 9068 §2.2.3.1
  }
  // Access tokens are stateless: nothing is stored here (no write, no fsync per token), so the
  // token itself names the grant whose revocation ends it (own_tokens.cpp is_access_token_active).
  // RFC 9068 §2.2 allows further claims. "grant_id" is the name OpenID Grant Management for OAuth
  // 2.0 gives the grant identifier (in token and introspection responses), so introspection, which
  // echoes the claims, answers it under that name. The id is random and opaque: it proves nothing
  // and no endpoint accepts it as a credential. client_credentials tokens have no grant.
  if (!s.grant_id.empty()) at["grant_id"] = s.grant_id;
  // RFC 9068 §2.1: typ "at+jwt", so an access token cannot pass for an ID token.
  out.access_token = jose::sign_jwt(key.key, key.kid, "at+jwt", at);

  if (s.user && util::contains(s.scopes, "openid")) {
    // OIDC Core §2 and §3.1.3.6.
    boost::json::object id;
    id["iss"] = ctx.config.issuer;
    id["sub"] = s.user->id;
    id["aud"] = s.client.id;
    id["azp"] = s.client.id;
    id["exp"] = now + ctx.config.id_token_ttl;
    id["iat"] = now;
    id["auth_time"] = s.auth_time;
    if (!s.nonce.empty()) id["nonce"] = s.nonce;
    id["at_hash"] = jose::at_hash(out.access_token, key.alg);
    if (util::contains(s.scopes, "profile")) {
      id["preferred_username"] = s.user->username;
      if (!s.user->name.empty()) id["name"] = s.user->name;
    }
    if (util::contains(s.scopes, "email") && !s.user->email.empty()) id["email"] = s.user->email;
    add_permission_claims(id, s.client, *s.user, s.scopes);
    out.id_token = jose::sign_jwt(key.key, key.kid, "JWT", id);
  }

  if (s.stored_refresh_token) {
    out.refresh_token = *s.stored_refresh_token;
  } else if (s.issue_refresh_token && !s.grant_id.empty()) {
    std::string token = ctx.random.token(32);
    ctx.store.put_refresh_token(store::RefreshToken{util::secret_hash(token), s.grant_id, now,
                                                    refresh_token_expiry(ctx.config, now, s.refresh_expires_at), 0});
    out.refresh_token = std::move(token);
  }
  return out;
}

boost::json::object token_response_body(const IssuedTokens& t) {
  boost::json::object body;
  body["access_token"] = t.access_token;
  body["token_type"] = "Bearer";
  body["expires_in"] = t.expires_in;
  if (!t.scope.empty()) body["scope"] = t.scope;
  if (t.refresh_token) body["refresh_token"] = *t.refresh_token;
  if (t.id_token) body["id_token"] = *t.id_token;
  return body;
}

}  // namespace latchkey::oauth
