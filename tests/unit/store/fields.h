#pragma once
// Field-by-field views of the store records, so tests compare whole records (store.h declares no
// operator==) and gtest prints the differing tuple.
#include <tuple>

#include "store/store.h"

namespace latchkey::store::testing {

inline auto fields(const Client& c) {
  return std::tie(c.id, c.name, c.secret_hash, c.is_public, c.redirect_uris, c.scopes, c.grant_types, c.audiences,
                  c.created_at, c.web_origins, c.allowed_claims);
}
inline auto fields(const User& u) {
  return std::tie(u.id, u.username, u.password_hash, u.email, u.name, u.created_at, u.roles, u.groups);
}
inline auto fields(const Session& s) { return std::tie(s.id_hash, s.user_id, s.auth_time, s.created_at, s.expires_at); }
inline auto fields(const Consent& c) {
  return std::tie(c.user_id, c.client_id, c.scopes, c.audiences, c.granted_at);
}
inline auto fields(const Interaction& i) {
  return std::tie(i.id_hash, i.browser_hash, i.request_json, i.created_at, i.expires_at);
}
inline auto fields(const AuthorizationCode& c) {
  return std::tie(c.code_hash, c.client_id, c.user_id, c.grant_id, c.redirect_uri, c.redirect_uri_in_request,
                  c.code_challenge, c.code_challenge_method, c.scopes, c.audiences, c.nonce, c.session_id_hash,
                  c.auth_time, c.created_at, c.expires_at);
}
inline auto fields(const Grant& g) {
  return std::tie(g.id, g.client_id, g.user_id, g.scopes, g.audiences, g.nonce, g.auth_time, g.created_at,
                  g.expires_at, g.revoked_at);
}
inline auto fields(const RefreshToken& t) {
  return std::tie(t.token_hash, t.grant_id, t.created_at, t.expires_at, t.used_at);
}
inline auto fields(const AccessTokenRecord& t) {
  return std::tie(t.jti, t.grant_id, t.client_id, t.expires_at, t.revoked_at);
}
inline auto fields(const SigningKey& k) {
  return std::tie(k.kid, k.alg, k.private_key_sealed, k.public_jwk, k.created_at, k.retired_at);
}

inline auto fields(const DeviceCode& d) {
  return std::tie(d.device_code_hash, d.user_code_hash, d.client_id, d.scopes, d.audiences, d.created_at,
                  d.expires_at, d.interval, d.last_polled_at, d.status, d.user_id, d.auth_time);
}

}  // namespace latchkey::store::testing
