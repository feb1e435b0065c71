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
};

// Signature by one of our published keys, typ at+jwt, our iss. Does not look at exp or revocation.
std::optional<AccessTokenView> decode_own_access_token(Context& ctx, std::string_view token);

// Unexpired, and neither the token (jti) nor its grant revoked.
bool is_access_token_active(Context& ctx, const AccessTokenView& token);

struct RefreshTokenView {
  store::RefreshToken token;
  store::Grant grant;
};

// A refresh token that exists, is not rotated away, not expired, and whose grant is live.
std::optional<RefreshTokenView> find_active_refresh_token(Context& ctx, std::string_view token);

// An id_token we issued (expired ones accepted: a logout hint may be old). Returns its claims.
std::optional<boost::json::object> decode_own_id_token(Context& ctx, std::string_view token);

}  // namespace latchkey::oauth
