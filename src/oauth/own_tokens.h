#pragma once
// Checking tokens this server issued: access tokens (RFC 9068 JWTs), refresh tokens (opaque,
// stored as hashes) and id_token hints. Used by revocation, introspection, userinfo and logout.
#include <boost/json/object.hpp>
#include <optional>
#include <string>

#include "oauth/context.h"

namespace latchkey::oauth {

struct AccessTokenView {
  boost::json::object claims;
  std::string jti;
  std::string client_id;
  std::string sub;
  std::int64_t exp = 0;
  std::int64_t iat = 0;
  std::string scope;
  std::string grant_id;  // the grant_id claim; empty for client_credentials and for older tokens
};

// Signature by one of our published keys, typ at+jwt, our iss. Does not look at exp or revocation.
std::optional<AccessTokenView> decode_own_access_token(Context& ctx, std::string_view token);

// Unexpired, its jti not revoked, and its grant (if any) still existing and not revoked. Access
// tokens are stateless: a token without a stored row is active; a row exists only once the token
// was revoked, or for tokens issued before the change (they carry no grant_id claim, and the row
// names their grant).
bool is_access_token_active(Context& ctx, const AccessTokenView& token);

// The row revoke_access_token writes for `token` at `now` (RFC 7009).
store::AccessTokenRecord revoked_access_token_record(const AccessTokenView& token, std::int64_t now);

struct RefreshTokenView {
  store::RefreshToken token;
  store::Grant grant;
};

// A refresh token that exists, is not rotated away, not expired, and whose grant is live.
std::optional<RefreshTokenView> find_active_refresh_token(Context& ctx, std::string_view token);

// An id_token we issued (expired ones accepted: a logout hint may be old). Returns its claims.
std::optional<boost::json::object> decode_own_id_token(Context& ctx, std::string_view token);

}  // namespace latchkey::oauth
